"""A child process for test_e2e_crash.py: the real app window, driven by input events.

    python tests/gui/crash_child.py VIDEO X Y [SECONDS_PER_FRAME]

Opens VIDEO in the main window (offscreen), clicks frame pixel (X, Y) on the canvas, waits
for the mask, presses F, and prints ``written FRAME`` (flushed) for every frame the
propagation commits. It never exits by itself: the parent kills it with SIGKILL mid-run.
SECONDS_PER_FRAME slows the real tracker so the kill lands in the middle of the run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(video: str, x: float, y: float, pace: float) -> int:
    import tempfile

    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtTest import QTest

    # Settings in a temp dir, never the user's (this process has no pytest fixtures).
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    folder = os.environ.get("CRASH_CHILD_SETTINGS") or tempfile.mkdtemp(prefix="annotator-crash-child-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)

    from annotator.app.events import MasksChanged
    from annotator.app.session import Session
    from annotator.gui.app import create_application
    from annotator.gui.main_window import MainWindow

    app = create_application([sys.argv[0]])
    session = Session(segmenter="classical", tracker="classical")
    if pace > 0:
        make = session.engines.make_tracker
        session.engines.make_tracker = lambda source: _Paced(make(source), pace)
    window = MainWindow(session, precompute=False, owns_session=True)
    window.resize(1100, 760)
    window.show()
    window.activateWindow()
    state = {"step": "open"}

    def on_masks(event: object) -> None:
        if isinstance(event, MasksChanged) and state["step"] == "propagating" and event.frames:
            for frame in event.frames:
                print(f"written {frame}", flush=True)

    window.bridge.event.connect(on_masks)

    def tick() -> None:
        step = state["step"]
        if step == "open" and window.canvas.frame_rgb is not None and session.is_open:
            QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier, window.canvas.frame_to_view(x, y))
            state["step"] = "clicked"
            print("clicked", flush=True)
        elif step == "clicked" and not window.interaction.segmenting() and session._project.mask_count() > 0:
            state["step"] = "propagating"
            QTest.keyClick(window.canvas, Qt.Key.Key_F)
            print("propagating", flush=True)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(20)
    window.open_path(video)
    return int(app.exec())


class _Paced:
    def __init__(self, tracker: object, seconds: float) -> None:
        self._tracker, self._seconds = tracker, seconds
        self.name = getattr(tracker, "name", "paced")

    def add_conditioning(self, frame: int, masks: dict) -> None:
        self._tracker.add_conditioning(frame, masks)  # type: ignore[attr-defined]

    def propagate(self, start: int, direction: int, stops: dict):
        for update in self._tracker.propagate(start, direction, stops):  # type: ignore[attr-defined]
            time.sleep(self._seconds)
            yield update

    def reset(self) -> None:
        self._tracker.reset()  # type: ignore[attr-defined]


if __name__ == "__main__":
    pace = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    raise SystemExit(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), pace))
