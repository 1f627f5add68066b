"""How fast the real window answers while the user steps through a video, with encode-ahead off
and on (issue 15: encoding the frames around the playhead must not make the UI slower).

    .venv/bin/python bench/gui_latency.py                      # EdgeTAM, real-size random weights
    .venv/bin/python bench/gui_latency.py --engine classical   # no model (encode-ahead is cheap)

For each setting a fresh MainWindow (offscreen) opens the video and a scripted user steps
through it: one → press, a pause to look (``--look`` s), and every fifth step a burst of ten
presses 40 ms apart (a scrub). Meanwhile a 10 ms timer measures how long the event loop goes
without running it, and each press is timed until the canvas shows the new frame. Before the
steps the click engine is loaded on its lane (both settings), so the loading is not measured.

EdgeTAM is built with real-size random weights (bench/cpu_stages.build_video_model, seed 0) and
installed in a temporary models folder, so its ONNX Runtime encoder export is the one the CPU
bench already cached (keyed by the weights' sha256); the first run exports it (about a minute).

Prints a table: event-loop gap median / p99 / max, press-to-frame-shown median / p90 / max, and
the frames encoded ahead. Compare the two rows of the same run; the machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def install_edgetam(models_dir: Path) -> None:
    from cpu_stages import build_video_model

    from annotator.engines.sam2_video import video_processor_for

    folder = models_dir / "edgetam"
    build_video_model("edgetam", 1024).save_pretrained(folder)
    video_processor_for(1024).save_pretrained(folder)


class SteppingUser:
    """Steps with →, looks, and now and then scrubs; times each press until the frame is shown."""

    def __init__(self, window: Any, steps: int, look_s: float) -> None:
        self.window, self.steps, self.look_s = window, steps, look_s
        self.shown_ms: list[float] = []

    def run(self, app: Any) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        canvas = self.window.canvas
        for step in range(self.steps):
            presses = 10 if step % 5 == 4 else 1
            for _ in range(presses):
                target = min(self.window.session.current_frame + 1, self.window.session.frame_count - 1)
                pressed = time.perf_counter()
                QTest.keyClick(canvas, Qt.Key.Key_Right)
                while canvas.frame_index != target:
                    app.processEvents()
                    time.sleep(0.001)
                self.shown_ms.append((time.perf_counter() - pressed) * 1e3)
                spin(app, 0.04)
            spin(app, self.look_s)


def spin(app: Any, seconds: float) -> None:
    """Run the event loop for ``seconds`` (the user is looking; timers and jobs go on)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def one_setting(app: Any, video: Path, engine: str, precompute: bool, steps: int, look_s: float) -> dict:
    from PySide6.QtCore import QTimer

    from annotator.app.session import Session
    from annotator.gui.main_window import MainWindow, default_settings

    session = Session(segmenter=engine, tracker="classical", device="cpu")
    window = MainWindow(session, settings=default_settings(), precompute=precompute, owns_session=True)
    window.resize(1280, 820)
    window.show()
    window.open_path(video)
    while not (session.is_open and window.canvas.frame_index == 0):
        spin(app, 0.05)
    # The click engine loads on its lane in both settings, so neither row measures the loading.
    loading = session.workers.submit(session.engines.lane, "load", lambda ctx: session.engines.segmenter())
    while not loading.done():
        spin(app, 0.05)
    loading.result()
    spin(app, 1.0)

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    probe.start()
    user = SteppingUser(window, steps, look_s)
    user.run(app)
    probe.stop()

    segmenter = session.engines.segmenter()
    fingerprint = session.video.fingerprint  # the key encode-ahead stores frames under
    encoded = sum(1 for f in range(session.frame_count) if segmenter.is_prepared((fingerprint, f)))
    window.close()
    session.shutdown()
    g, s = np.array(gaps) * 1e3, np.array(user.shown_ms)
    return {"encode-ahead": "on" if precompute else "off", "gap_median": np.median(g),
            "gap_p99": np.percentile(g, 99), "gap_max": g.max(), "shown_median": np.median(s),
            "shown_p90": np.percentile(s, 90), "shown_max": s.max(), "presses": len(s), "encoded": encoded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="edgetam", choices=("edgetam", "classical"))
    parser.add_argument("--video", type=Path, default=ROOT / "resources" / "sample.mp4")
    parser.add_argument("--steps", type=int, default=20,
                        help="steps per setting (every 5th is a 10-press scrub)")
    parser.add_argument("--look", type=float, default=1.0, help="seconds the user looks at each frame")
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="gui-latency-"))
    os.environ["ANNOTATOR_MODELS_DIR"] = str(work / "models")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    if args.engine == "edgetam":
        install_edgetam(work / "models")
    rows = []
    try:
        for precompute in (False, True):
            video = work / f"{'on' if precompute else 'off'}{args.video.suffix}"  # own project each
            shutil.copy(args.video, video)
            rows.append(one_setting(app, video, args.engine, precompute, args.steps, args.look))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nUI latency while stepping ({args.engine}, {args.steps} steps, look {args.look} s, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"{'encode-ahead':>12} {'gap med':>8} {'gap p99':>8} {'gap max':>8} {'shown med':>10} "
          f"{'shown p90':>10} {'shown max':>10} {'presses':>8} {'encoded':>8}   (ms)")
    for r in rows:
        print(f"{r['encode-ahead']:>12} {r['gap_median']:8.1f} {r['gap_p99']:8.1f} {r['gap_max']:8.1f} "
              f"{r['shown_median']:10.1f} {r['shown_p90']:10.1f} {r['shown_max']:10.1f} {r['presses']:8d} "
              f"{r['encoded']:8d}")
    off, on = rows
    print(f"ratio on/off: gap p99 {on['gap_p99'] / off['gap_p99']:.2f}x, shown median "
          f"{on['shown_median'] / off['shown_median']:.2f}x, "
          f"shown p90 {on['shown_p90'] / off['shown_p90']:.2f}x")


if __name__ == "__main__":
    main()
