"""The real app in a real X11 window, driven by real X input events.

`python -m annotator clip.mp4` (this checkout's code) runs under Xvfb with no window manager;
xdotool clicks and types as a user would: click the ellipse, propagate (F), go to frame 50 and
correct it with a right click, undo and redo, export COCO through Ctrl+E (the dialog driven by
keys), open and close the Models dialog and the About box, and quit with Ctrl+Q. After each
dialog the window's shortcuts must work without a click (nothing but the app gives it the
focus back). The checks read the project file (read-only, while the app writes it) and the
exported JSON; screenshots stay in the test's tmp_path.

Outside CI the test skips when Xvfb, xdotool or Qt's xcb libraries are missing and cannot be
installed (no apt-get, not root); with CI=true it fails instead (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from annotator.core import masks as rle_ops
from annotator.core.project import Project
from tests.session_helpers import SAMPLE, SAMPLE_GT
from tests.x11.xdisplay import REPO, XDisplay, ensure_tools, start_xvfb, wait_until

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.x11]

ELLIPSE = 1  # object id in resources/sample_gt.json
FIX_FRAME = 50  # the frame corrected with a negative click
SHOWN = 0.85  # template-match score of a frame on the canvas (about 0.95 and up with its overlay)


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture
def xdisplay() -> Iterator[XDisplay]:
    reason = ensure_tools()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: the real-X11 test must run, but {reason}")
        pytest.skip(reason)
    display = start_xvfb()
    yield display
    display.close()


class App:
    """The app as a user starts it, on a private copy of the sample and private settings."""

    def __init__(self, display: XDisplay, folder: Path) -> None:
        self.display = display
        self.video = folder / "videos" / "clip.mp4"
        self.video.parent.mkdir(parents=True)
        shutil.copy(SAMPLE, self.video)
        self.project_path = self.video.with_name("clip.mp4.annot")
        self.log = folder / "app.log"
        env = {**os.environ, **display.env(), "PYTHONPATH": str(REPO),
               "XDG_CONFIG_HOME": str(folder / "config"), "HOME": str(folder / "home")}
        env.pop("QT_QPA_PLATFORM", None)  # the test suite runs offscreen; this one must not
        with self.log.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "annotator", str(self.video)], env=env,
                                            cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        self.frames = _decode_all(SAMPLE)

    def key(self, *keys: str) -> None:
        self.display.xdotool("key", "--delay", "60", *keys)

    def type(self, text: str) -> None:
        self.display.xdotool("type", "--delay", "20", text)

    def click_frame(self, frame: int, x: int, y: int, button: int = 1) -> None:
        """A real click on frame pixel (x, y), wherever the canvas shows it now."""
        left, top = self.frame_origin(frame)
        self.display.xdotool("mousemove", str(left + x), str(top + y))
        self.display.xdotool("click", str(button))

    def match(self, frame: int) -> tuple[float, tuple[int, int]]:
        """How well the screen shows ``frame`` at 100% (Ctrl+1), and where its top-left pixel is.

        The background pans, so another frame scores far lower (about 0.6 six frames away);
        the mask overlay and the prompt dots cost the shown frame a few hundredths.
        """
        import cv2

        scores = cv2.matchTemplate(self.display.screenshot(), self.frames[frame], cv2.TM_CCOEFF_NORMED)
        _, best, _, origin = cv2.minMaxLoc(scores)
        return float(best), origin

    def shows(self, frame: int) -> bool:
        return self.match(frame)[0] > SHOWN

    def frame_origin(self, frame: int) -> tuple[int, int]:
        """Screen position of the frame's top-left pixel, once the canvas shows it."""
        score, origin = self.match(frame)
        assert score > SHOWN, f"frame {frame} is not on the canvas (best match {score:.2f})"
        return origin

    def project(self) -> Project:
        return Project.open(self.project_path, readonly=True)

    def read(self, read: object) -> object:
        """One read of the project file (opened read-only while the app writes it)."""
        project = self.project()
        try:
            return read(project)  # type: ignore[operator]
        finally:
            project.close()

    def wait_project(self, what: str, condition: object) -> object:
        return wait_until(lambda: self.read(condition), what)

    def window_shown(self, name: str) -> bool:
        try:
            return bool(self.display.xdotool("search", "--onlyvisible", "--name", name))
        except RuntimeError:  # xdotool exits 1 when no window matches
            return False

    def screenshot(self, path: Path) -> Path:
        from PIL import Image

        Image.fromarray(self.display.screenshot()).save(path)
        return path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def app(xdisplay: XDisplay, tmp_path: Path) -> Iterator[App]:
    if not SAMPLE.exists() or not SAMPLE_GT.exists():
        pytest.skip("resources/sample.mp4 or sample_gt.json missing; run `make sample`")
    running = App(xdisplay, tmp_path)
    yield running
    running.stop()
    print(f"app log ({running.log}):\n{running.log.read_text()[-4000:]}")


def _decode_all(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _gt(frame: int) -> np.ndarray:
    truth = json.loads(SAMPLE_GT.read_text())
    return rle_ops.decode(truth["objects"][str(ELLIPSE)]["masks"][frame])


def _inner_point(mask: np.ndarray) -> tuple[int, int]:
    import cv2

    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def _mask(project: Project, oid: int, frame: int) -> np.ndarray | None:
    record = project.mask(oid, frame)
    return None if record is None else rle_ops.decode(record.rle)


# --- the test -----------------------------------------------------------------------------------------
def test_annotate_in_a_real_x11_window(app: App, tmp_path: Path) -> None:
    frame_count = len(app.frames)
    wait_until(lambda: app.window_shown("Annotator"), "the main window")
    app.wait_project("the project file", lambda p: p is not None)

    # Ctrl+1 (100%, one video pixel per screen pixel) works at once: the app activated its own
    # window, with no window manager and no click.
    def at_actual_size() -> bool:
        app.key("ctrl+1")
        app.frame_origin(0)
        return True

    wait_until(at_actual_size, "the first frame at 100%")

    # 1. Click the ellipse: object 1 gets a mask close to the ground truth, locked on frame 0.
    truth = _gt(0)
    app.click_frame(0, *_inner_point(truth))
    first = app.wait_project("the clicked mask", lambda p: _mask(p, ELLIPSE, 0))
    overlap = (first & truth).sum() / (first | truth).sum()
    assert overlap >= 0.8, f"click IoU {overlap:.3f}"
    assert app.read(lambda p: p.is_locked(ELLIPSE, 0))

    # 2. F propagates to the end of the clip.
    app.key("Return", "f")  # Enter ends the click session, F propagates forward
    app.wait_project("masks on every frame",
                     lambda p: len(p.object_frames(ELLIPSE)) == frame_count and not p.can_redo())
    tracked = app.read(lambda p: _mask(p, ELLIPSE, FIX_FRAME))
    assert tracked is not None and tracked.sum() > 0
    assert not app.read(lambda p: p.is_locked(ELLIPSE, FIX_FRAME))

    # 3. Frame 50 (Home, then 5 x Shift+Right), corrected with a negative (right) click on its left part.
    app.key("Home", *["shift+Right"] * 5)
    wait_until(lambda: app.shows(FIX_FRAME), f"frame {FIX_FRAME} on the canvas")
    print(f"frame {FIX_FRAME} on the canvas: match {app.match(FIX_FRAME)[0]:.3f}")
    ys, xs = np.nonzero(tracked)
    row = int(np.median(ys))
    row_xs = xs[ys == row]
    negative = (int(row_xs.min() + 0.2 * (row_xs.max() - row_xs.min())), row)
    app.click_frame(FIX_FRAME, *negative, button=3)
    def correction(p: Project) -> np.ndarray | None:
        mask = _mask(p, ELLIPSE, FIX_FRAME)
        return mask if p.is_locked(ELLIPSE, FIX_FRAME) and mask.sum() < tracked.sum() else None

    corrected = app.wait_project("the corrected mask", correction)
    assert not corrected[negative[1], negative[0]], "the negative point is outside the corrected mask"
    app.screenshot(tmp_path / "corrected.png")

    def is_tracked(p: Project) -> bool:
        return not p.is_locked(ELLIPSE, FIX_FRAME) and np.array_equal(_mask(p, ELLIPSE, FIX_FRAME), tracked)

    def is_corrected(p: Project) -> bool:
        return p.is_locked(ELLIPSE, FIX_FRAME) and np.array_equal(_mask(p, ELLIPSE, FIX_FRAME), corrected)

    # 4. Undo takes the correction back, redo brings it again.
    app.key("Return", "ctrl+z")
    app.wait_project("undo of the correction", is_tracked)
    app.key("ctrl+shift+z")
    app.wait_project("redo of the correction", is_corrected)

    # 5. Ctrl+E: the export dialog, driven by keys. End then Home in the format list (COCO is
    # the first), Tab to "Save to", type the path, Enter presses Export.
    out = tmp_path / "exports" / "clip-coco.json"
    app.key("ctrl+e")
    wait_until(lambda: app.window_shown("^Export$"), "the export dialog")
    app.key("End", "Home", "Tab", "ctrl+a")
    app.type(str(out))
    app.screenshot(tmp_path / "export-dialog.png")
    app.key("Return")
    wait_until(lambda: out.is_file() and json.loads(out.read_text()), "the exported COCO file")
    app.key("Escape")
    wait_until(lambda: not app.window_shown("^Export$"), "the export dialog to close")

    # After the dialog, no click: Ctrl+Z and Ctrl+Shift+Z reach the window.
    app.key("ctrl+z")
    app.wait_project("undo after the export dialog", is_tracked)
    app.key("ctrl+shift+z")
    app.wait_project("redo after the export dialog", is_corrected)

    # 6. The Models dialog (View > Models… by its mnemonics) and the About box (Help > About).
    app.key("alt+v", "m")
    wait_until(lambda: app.window_shown("^Models"), "the models dialog")
    app.key("Escape")
    wait_until(lambda: not app.window_shown("^Models"), "the models dialog to close")
    app.key("ctrl+z")
    app.wait_project("undo after the models dialog", is_tracked)
    app.key("alt+h", "a")
    wait_until(lambda: app.window_shown("^About Annotator$"), "the about box")
    app.key("Return")
    wait_until(lambda: not app.window_shown("^About Annotator$"), "the about box to close")
    app.key("ctrl+shift+z")
    app.wait_project("redo after the about box", is_corrected)

    # Space plays (the canvas leaves frame 50), and pauses again.
    assert app.shows(FIX_FRAME)
    app.key("space")
    wait_until(lambda: not app.shows(FIX_FRAME), "playback after Space")
    app.key("space")
    app.screenshot(tmp_path / "final.png")

    # 7. Ctrl+Q quits (everything is already saved).
    app.key("ctrl+q")
    assert wait_until(lambda: app.process.poll() is not None, "the app to quit") is not None
    assert app.process.returncode == 0, app.log.read_text()[-2000:]

    # The project file: the click, the propagation and the redone correction.
    project = app.project()
    try:
        assert len(project.object_frames(ELLIPSE)) == frame_count
        assert project.locked_frames(ELLIPSE) == [0, FIX_FRAME]
        assert np.array_equal(_mask(project, ELLIPSE, FIX_FRAME), corrected)
        assert np.array_equal(_mask(project, ELLIPSE, 0), first)
    finally:
        project.close()

    # The exported COCO: one image per frame, the ellipse's masks, frame 50 as corrected.
    coco = json.loads(out.read_text())
    assert len(coco["images"]) == frame_count
    by_image = {image["id"]: image for image in coco["images"]}
    annotations = [a for a in coco["annotations"] if a["area"] > 0]
    assert len(annotations) == frame_count
    fix = [a for a in annotations if _frame_of(by_image[a["image_id"]]) == FIX_FRAME]
    assert len(fix) == 1 and fix[0]["area"] == int(corrected.sum())
    segmentation = fix[0]["segmentation"]
    assert np.array_equal(rle_ops.decode(segmentation).astype(bool), corrected)


def _frame_of(image: dict) -> int:
    """The frame index of a COCO image record (``frame_id``, and the name ends in the padded index)."""
    assert Path(image["file_name"]).stem == f"{image['frame_id']:05d}"
    return int(image["frame_id"])
