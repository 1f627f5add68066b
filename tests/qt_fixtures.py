"""Fixtures shared by the GUI test folders (tests/gui, tests/gui_widgets, tests/gui_insights).

Each folder's conftest imports the fixtures it wants by name (pytest finds a fixture by the name it
has in the conftest's namespace; a non-root conftest may not set ``pytest_plugins``):

- ``isolated_settings``: QSettings() and QSettings(org, app) read and write an ini file under tmp_path;
- ``_no_dangling_qthreads`` / ``_no_dangling_qtimers``: fail a test that leaves a QThread, or a
  repeating QTimer started by annotator code, running (napari's discipline);
- ``_styled_app``: the app's style sheet on the test QApplication;
- ``sample_copy``: a private copy of resources/sample.mp4 (its project is created beside it);
- ``bridge``: a SessionBridge over the folder's ``session`` fixture.

``show_factory`` and ``load_sample_gt`` are the plain helpers behind each folder's ``show`` and
ground-truth fixtures (whose defaults differ per folder).
"""

from __future__ import annotations

import json
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, QThread, QTimer

from annotator.gui.style import apply_style
from tests.session_helpers import SAMPLE, SAMPLE_GT, copy_sample


# --- isolation ---------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[Path]:
    """QSettings() and QSettings(org, app) read and write an ini file under tmp_path."""
    folder = tmp_path / "qsettings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


def _from_annotator(stack: list[str]) -> bool:
    return any("/annotator/" in line and "/tests/" not in line for line in stack)


def _fail_on_leaks(kind: str, leaks: list[str]) -> None:
    if leaks:
        pytest.fail(f"{kind}(s) left running, started at:\n" + "\n---\n".join(leaks))


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that leaves a QThread it started still running."""
    started: list[tuple[weakref.ref, str]] = []
    original = QThread.start

    def start(self: QThread, *args: object) -> None:
        started.append((weakref.ref(self), "".join(traceback.format_stack(limit=12))))
        original(self, *args)

    monkeypatch.setattr(QThread, "start", start)
    yield
    leaks = []
    for ref, stack in started:
        thread = ref()
        try:
            if thread is not None and thread.isRunning() and not thread.wait(2000):
                leaks.append(stack)
        except RuntimeError:  # the C++ object is gone: not running
            continue
    _fail_on_leaks("QThread", leaks)


@pytest.fixture(autouse=True)
def _no_dangling_qtimers(monkeypatch: pytest.MonkeyPatch, qapp: object) -> Iterator[None]:
    """Fail a test that leaves a repeating QTimer started by annotator code running after its
    widgets closed."""
    started: list[tuple[weakref.ref, str]] = []
    original = QTimer.start

    def start(self: QTimer, *args: object) -> None:
        stack = traceback.format_stack(limit=14)
        if _from_annotator(stack):
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
    _fail_on_leaks("QTimer", leaks)


@pytest.fixture(scope="session", autouse=True)
def _styled_app(qapp: object) -> None:
    apply_style(qapp)  # type: ignore[arg-type]


# --- the sample and a session on it ------------------------------------------------------------------
@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of the sample video (its project is created beside it)."""
    if not SAMPLE.exists():
        pytest.skip("resources/sample.mp4 missing; run `make sample`")
    folder = tmp_path / "videos"
    folder.mkdir(exist_ok=True)
    return copy_sample(folder)


def load_sample_gt() -> dict:
    """resources/sample_gt.json (skips the test when it is absent)."""
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return json.loads(SAMPLE_GT.read_text())


@pytest.fixture
def bridge(session: object, qtbot: object) -> Iterator[object]:
    """A SessionBridge over the ``session`` fixture of the folder, detached at teardown."""
    from annotator.gui.jobs import SessionBridge

    b = SessionBridge(session)  # type: ignore[arg-type]
    yield b
    b.detach()


def show_factory(qtbot: object, default_width: int, default_height: int) -> Callable[..., object]:
    """show(widget, w, h): register with qtbot, size, show and wait until exposed."""
    def show(widget: object, width: int = default_width, height: int = default_height) -> object:
        qtbot.addWidget(widget)  # type: ignore[attr-defined]
        widget.resize(width, height)  # type: ignore[attr-defined]
        widget.show()  # type: ignore[attr-defined]
        qtbot.waitExposed(widget)  # type: ignore[attr-defined]
        return widget

    return show
