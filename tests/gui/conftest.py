"""GUI test fixtures: the real window on a copy of the sample, isolated settings, and checks
that no test leaves a QThread or QTimer running (napari's discipline).

Tests drive the window through Qt input events (QTest mouse clicks on the canvas viewport
at coordinates mapped from frame pixels, key clicks for shortcuts), never by calling the
controllers directly, and wait on conditions (qtbot.waitUntil), never on fixed sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

# Shared fixtures (autouse ones included) take effect here by being names in this conftest.
from tests.gui.helpers import wait_for_frame
from tests.qt_fixtures import (  # noqa: F401
    _no_dangling_qthreads,
    _no_dangling_qtimers,
    _styled_app,
    isolated_settings,
    load_sample_gt,
    sample_copy,
)


# --- the window --------------------------------------------------------------------------------------
@pytest.fixture
def make_window(qtbot: object, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """make_window(path=None, segmenter="classical", tracker="classical", precompute=False) -> MainWindow.

    The window is shown and, with a path, waits until the first frame is on the canvas.
    Every window made is closed at teardown (which cancels jobs and shuts the session down).
    """
    from annotator.app.session import Session
    from annotator.gui.main_window import MainWindow, default_settings

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
    return load_sample_gt()
