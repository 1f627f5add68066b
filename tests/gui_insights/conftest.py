"""Fixtures for the insights panel tests: a real Session (classical engines, real PyAV decode, a
real SQLite project) on a copy of the sample with its three objects masked, wrapped in a
SessionBridge; QSettings under tmp_path; a test that leaves a repeating QTimer of ours running
fails (napari's discipline)."""

from __future__ import annotations

import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, QTimer

from annotator.gui.style import apply_style


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "qsettings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def _no_dangling_qtimers(monkeypatch: pytest.MonkeyPatch, qapp: object) -> Iterator[None]:
    started: list[tuple[weakref.ref, str]] = []
    original = QTimer.start

    def start(self: QTimer, *args: object) -> None:
        stack = traceback.format_stack(limit=14)
        if any("/annotator/" in line and "/tests/" not in line for line in stack):
            started.append((weakref.ref(self), "".join(stack)))
        original(self, *args)

    monkeypatch.setattr(QTimer, "start", start)
    yield
    leaks = []
    for ref, stack in started:
        timer = ref()
        try:
            if timer is not None and timer.isActive() and not timer.isSingleShot():
                leaks.append(stack)
        except RuntimeError:
            continue
    if leaks:
        pytest.fail("QTimer(s) left running, started at:\n" + "\n---\n".join(leaks))


@pytest.fixture(scope="session", autouse=True)
def _styled_app(qapp: object) -> None:
    apply_style(qapp)  # type: ignore[arg-type]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[object]:
    from annotator.session import Session
    from tests.session_helpers import SAMPLE_GT
    from tests.tiny_describe import sample_project

    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    s = Session(segmenter="classical", tracker="classical")
    s.open(sample_project(tmp_path))
    yield s
    s.shutdown()


@pytest.fixture
def bridge(session: object, qtbot: object) -> Iterator[object]:
    from annotator.gui.jobs import SessionBridge

    b = SessionBridge(session)  # type: ignore[arg-type]
    yield b
    b.detach()


@pytest.fixture
def show(qtbot: object) -> Callable[..., object]:
    def factory(widget: object, width: int = 420, height: int = 720) -> object:
        qtbot.addWidget(widget)  # type: ignore[attr-defined]
        widget.resize(width, height)  # type: ignore[attr-defined]
        widget.show()  # type: ignore[attr-defined]
        qtbot.waitExposed(widget)  # type: ignore[attr-defined]
        return widget

    return factory
