"""Make the user guide's screenshots by driving the real window offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_screenshots.py [--out docs/images]

It opens a copy of resources/sample.mp4 in the main window with the classical engines (no
weights needed), and uses real input events (mouse clicks on the canvas, key presses) to
go through the workflow the guide describes, saving one PNG per state. Settings and the
project live in a temporary folder, so nothing on this machine is touched or shown.
tests/gui/test_screenshots.py runs the same function into a temp dir, so the script stays
working as the app changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZE = (1440, 900)
# Frame-pixel points deep inside the sample's three objects on frame 0 (see resources/sample_gt.json).
CLICKS = {"ellipse": (189, 198), "rectangle": (448, 162), "star": (335, 108)}
NAMES = {"ellipse": "dancer", "rectangle": "box", "star": "star"}
SHOTS = ("welcome", "preview", "clicked", "objects", "propagating", "propagated", "brush", "timeline", "help",
         "models")


def make_screenshots(out_dir: Path, pace_s: float = 0.0, timeout_s: float = 120.0,
                     objects: int = 3) -> dict[str, Path]:
    """Save the screenshots into ``out_dir``; returns {name: path}. Needs a QApplication-capable env.

    ``objects`` (1-3): how many of the sample's objects to segment and track (the test uses one).
    """
    from PySide6.QtCore import QEvent, QPointF, QSettings, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from annotator.gui.app import create_application

    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="annotator-shots-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    app = create_application([sys.argv[0]])
    from annotator.app.session import Session
    from annotator.gui.help_dialog import HelpDialog
    from annotator.gui.main_window import MainWindow, default_settings

    video = work / "street-sample.mp4"
    shutil.copy(REPO / "resources" / "sample.mp4", video)
    session = Session(segmenter="classical", tracker="classical")
    if pace_s > 0:  # slow the tracker a little so the "propagating" shot lands mid-run
        make = session.engines.make_tracker
        session.engines.make_tracker = lambda source: _Paced(make(source), pace_s)
    window = MainWindow(session, settings=default_settings(), precompute=False, owns_session=True)
    window.resize(*SIZE)
    window.show()
    window.activateWindow()
    shots: dict[str, Path] = {}

    def wait(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"screenshots: gave up waiting for {what}")
            app.processEvents()
            time.sleep(0.005)
        for _ in range(5):  # let queued redraws land
            app.processEvents()

    def settle() -> None:
        # The canvas redraw, the objects panel's frame counts and the timeline are batched on timers.
        timers = (window.interaction._redraw_timer, window.objects_panel._counts_timer,
                  window.timeline._update_timer)
        wait(lambda: not window.interaction.segmenting() and not any(t.isActive() for t in timers),
             "the canvas, the objects panel and the timeline")

    def shot(name: str, widget: object = None) -> None:
        app.processEvents()
        # Whole-window shots hold video texture, which PNG compresses badly: JPEG keeps them small.
        path = out_dir / (f"{name}.png" if widget is not None else f"{name}.jpg")
        quality = -1 if widget is not None else 90  # -1: PNG's default (best) compression
        (widget or window).grab().save(str(path), quality=quality)  # type: ignore[attr-defined]
        shots[name] = path

    def click(x: float, y: float, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
        QTest.mouseClick(window.canvas.viewport(), button, Qt.KeyboardModifier.NoModifier,
                         window.canvas.frame_to_view(x, y))

    def key(k: Qt.Key, mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(window.canvas, k, mod)

    try:
        wait(window.isVisible, "the window")
        shot("welcome")

        window.open_path(video)
        wait(lambda: window.canvas.frame_rgb is not None, "the first frame")
        settle()

        # Click the first object: the instant preview, then the engine's mask. The engine lane is
        # held for a moment so the preview (which is on screen until the engine answers, a fraction
        # of a second) can be photographed.
        gate = threading.Event()
        session.workers.submit(session.engines.lane, "hold for the screenshot", lambda ctx: gate.wait(60))
        click(*CLICKS["ellipse"])
        wait(lambda: window.canvas.prompts.preview_shown, "the preview")
        shot("preview")
        gate.set()
        settle()
        shot("clicked")

        # More objects (N, then a click each), named like a user would.
        for name in ("rectangle", "star")[:max(0, objects - 1)]:
            key(Qt.Key.Key_N)
            click(*CLICKS[name])
            settle()
        for info, name in zip(session.objects(), ("ellipse", "rectangle", "star")):
            session.rename_object(info.id, NAMES[name])
        key(Qt.Key.Key_Return)
        key(Qt.Key.Key_1)
        settle()
        shot("objects")

        # Propagate forward: a shot mid-run, then the result with the confidence on the timeline.
        key(Qt.Key.Key_F)
        wait(lambda: window.propagation.job is not None, "the propagation to start")
        job = window.propagation.job
        wait(lambda: job.progress.done >= 40 or job.done(), "propagation progress")
        settle()
        shot("propagating")
        wait(job.done, "the propagation to finish")
        wait(lambda: not window.propagation.running, "the propagation bar")
        key(Qt.Key.Key_Home)
        wait(lambda: window.canvas.frame_index == 0, "frame 0")
        settle()
        middle = session.frame_count // 2
        session.set_frame(middle)
        wait(lambda: window.canvas.frame_index == middle, f"frame {middle}")
        settle()
        flush = getattr(window.timeline, "flush", None)
        if callable(flush):
            flush()
        settle()
        shot("propagated")
        shot("timeline", window.timeline_dock)

        # The brush, with its cursor circle over the first object.
        key(Qt.Key.Key_P)
        for _ in range(4):
            key(Qt.Key.Key_BracketRight)
        target = QPointF(window.canvas.frame_to_view(*CLICKS["ellipse"]))
        viewport = window.canvas.viewport()
        move = QMouseEvent(QEvent.Type.MouseMove, target, viewport.mapToGlobal(target),
                           Qt.MouseButton.NoButton,
                           Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, move)
        settle()
        shot("brush")
        key(Qt.Key.Key_S)

        # F1: every shortcut, editable.
        key(Qt.Key.Key_F1)
        wait(lambda: any(d.isVisible() for d in window.findChildren(HelpDialog)), "the help dialog")
        dialog = next(d for d in window.findChildren(HelpDialog) if d.isVisible())
        shot("help", dialog)
        dialog.close()

        # The Models dialog, opened from the engine link in the status bar.
        from annotator.gui.models_dialog import ModelsDialog

        QTest.mouseClick(window.status.engine_button, Qt.MouseButton.LeftButton)
        wait(lambda: any(d.isVisible() for d in window.findChildren(ModelsDialog)), "the Models dialog")
        models = next(d for d in window.findChildren(ModelsDialog) if d.isVisible())
        settle()
        shot("models", models)
        models.close()
    finally:
        window.close()
        window.deleteLater()
        QApplication.processEvents()
        shutil.rmtree(work, ignore_errors=True)
    return shots


class _Paced:
    """The real tracker, slowed per update (only so a screenshot can catch it mid-run)."""

    def __init__(self, tracker: object, seconds: float) -> None:
        self._tracker, self._seconds = tracker, seconds
        self.name = getattr(tracker, "name", "paced")

    def add_conditioning(self, frame: int, masks: dict) -> None:
        self._tracker.add_conditioning(frame, masks)  # type: ignore[attr-defined]

    def propagate(self, start: int, direction: int, stops: dict) -> Iterator[Any]:
        for update in self._tracker.propagate(start, direction, stops):  # type: ignore[attr-defined]
            time.sleep(self._seconds)
            yield update

    def reset(self) -> None:
        self._tracker.reset()  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="output folder")
    args = parser.parse_args()
    shots = make_screenshots(args.out)
    for name, path in shots.items():
        print(f"{name:12s} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
