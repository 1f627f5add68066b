"""GUI test fixtures: the real window on a copy of the sample, isolated settings, and checks
that no test leaves a QThread or QTimer running (napari's discipline).

Tests drive the window through Qt input events (QTest mouse clicks on the canvas viewport
at coordinates mapped from frame pixels, key clicks for shortcuts), never by calling the
controllers directly, and wait on conditions (qtbot.waitUntil), never on fixed sleeps.
"""

from __future__ import annotations

import json
import shutil
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, QThread, QTimer

from annotator.gui.style import apply_style
from tests.gui.helpers import wait_for_frame

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample.mp4"
SAMPLE_GT = REPO / "resources" / "sample_gt.json"


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
    if leaks:
        pytest.fail("QThread(s) left running, started at:\n" + "\n---\n".join(leaks))


@pytest.fixture(autouse=True)
def _no_dangling_qtimers(monkeypatch: pytest.MonkeyPatch, qapp: object) -> Iterator[None]:
    """Fail a test that leaves a repeating QTimer of ours running after its widgets closed."""
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
    if leaks:
        pytest.fail("QTimer(s) left running, started at:\n" + "\n---\n".join(leaks))


@pytest.fixture(scope="session", autouse=True)
def _styled_app(qapp: object) -> None:
    apply_style(qapp)  # type: ignore[arg-type]


# --- the window --------------------------------------------------------------------------------------
@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of the sample video (its project is created beside it)."""
    if not SAMPLE.exists():
        pytest.skip("resources/sample.mp4 missing; run `make sample`")
    folder = tmp_path / "videos"
    folder.mkdir(exist_ok=True)
    target = folder / "sample.mp4"
    shutil.copy(SAMPLE, target)
    return target


@pytest.fixture
def make_window(qtbot: object, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """make_window(path=None, segmenter="classical", tracker="classical", precompute=False) -> MainWindow.

    The window is shown and, with a path, waits until the first frame is on the canvas.
    Every window made is closed at teardown (which cancels jobs and shuts the session down).
    """
    from annotator.gui.main_window import MainWindow, default_settings
    from annotator.session import Session

    made: list[MainWindow] = []

    def factory(path: str | Path | None = None, segmenter: str = "classical", tracker: str = "classical",
                precompute: bool = False) -> MainWindow:
        session = Session(segmenter=segmenter, tracker=tracker)
        window = MainWindow(session, settings=default_settings(), precompute=precompute, owns_session=True)
        qtbot.addWidget(window)  # type: ignore[attr-defined]
        made.append(window)
        window.resize(1280, 820)
        window.show()
        window.activateWindow()
        qtbot.waitExposed(window)  # type: ignore[attr-defined]
        if path is not None:
            window.open_path(path)
            wait_for_frame(qtbot, window, None)
        return window

    yield factory
    for window in made:
        window.close()


# --- ground truth ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sample_gt() -> dict:
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return json.loads(SAMPLE_GT.read_text())


