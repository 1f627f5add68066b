"""The fast mode's step (engines/pull_warp.py): the pull, the consistency check, the colour snap,
and that the fast mode beats plain flow warping on real video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.core.imageio import read_image
from annotator.core.metrics import read_davis_mask, score_sequence
from annotator.engines import pull_warp
from annotator.engines.appearance import ColourModel
from annotator.engines.classical_track import ClassicalTracker
from annotator.engines.flow import PixelGrid, plain_warp
from annotator.engines.tracker import ListFrames

H, W = 90, 120


def _disc(cx: int, cy: int, r: int = 15) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def _translation(dx: float, dy: float) -> np.ndarray:
    flow = np.empty((H, W, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_pull_moves_a_soft_mask_with_the_backward_flow() -> None:
    grid = PixelGrid.of(H, W)
    soft = _disc(40, 45).astype(np.float32)
    moved = pull_warp.pull(soft, _translation(-6, 0), grid)  # frame t's pixel x came from x - 6
    assert np.array_equal(moved > 0.5, _disc(46, 45))
    assert moved.dtype == np.float32 and moved.min() >= 0 and moved.max() <= 1


def test_consistency_is_high_for_inverse_flows_and_low_otherwise() -> None:
    mask = _disc(60, 45)
    assert pull_warp.consistency(_translation(-5, 2), _translation(5, -2), mask, 1.5) > 0.99
    assert pull_warp.consistency(_translation(-5, 2), _translation(0, 0), mask, 1.5) < 0.01
    assert pull_warp.consistency(_translation(-5, 2), _translation(5, -2), np.zeros((H, W), bool), 1.5) == 0.0


def test_the_colour_snap_recovers_what_the_flow_missed() -> None:
    """The object moved 3 px but the flow saw none of it: inside the band where the carried soft
    mask is unsure, the lock's colour model moves the boundary onto the object's new place."""
    rng = np.random.default_rng(0)
    def frame(cx: int) -> np.ndarray:  # Lab: a grey, slightly noisy background and a red disc
        lab = np.empty((H, W, 3), np.uint8)
        lab[..., 0] = 120
        lab[..., 1:] = 128 + rng.integers(-4, 5, (H, W, 2))
        lab[_disc(cx, 45)] = (150, 180, 160)
        return lab

    colour = ColourModel()
    colour.add(frame(40), _disc(40, 45), ring_px=6)
    cur = frame(43)
    zero = _translation(0, 0)
    grid = PixelGrid.of(H, W)
    before = _disc(40, 45)
    soft = cv2.GaussianBlur(before.astype(np.float32), (0, 0), 2.0)  # carried masks are soft
    out = pull_warp.step(soft, zero, zero, grid, cur, colour, band_px=4,
                         colour_weight=0.75, fb_sigma=1.5, min_part=0.1)
    truth = _disc(43, 45)
    def iou(a: np.ndarray) -> float:
        return float((a & truth).sum() / (a | truth).sum())
    assert np.array_equal(out.carried, soft > 0.5)  # what the flow alone brought
    assert iou(out.soft > 0.5) > iou(before) + 0.1, (iou(before), iou(out.soft > 0.5))
    assert out.reliability > 0.99  # zero flows undo each other


@pytest.mark.davis
@pytest.mark.slow
@pytest.mark.parametrize("seq", ["car-shadow", "blackswan"])
def test_fast_mode_beats_plain_flow_warping_on_davis(davis_dir: Path, seq: str) -> None:
    """Measured (bench/track.py): car-shadow 0.669 vs 0.580, blackswan 0.865 vs 0.716."""
    root = davis_dir
    frames = [read_image(p) for p in sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))]
    gts = [read_davis_mask(p) > 0 for p in sorted((root / "Annotations" / "480p" / seq).glob("*.png"))]
    warped = [gts[0], *plain_warp(frames, gts[0])]
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(0, {1: gts[0]})
    tracked = [gts[0]] + [u.mask for u in tracker.propagate(0, 1, {1: len(frames) - 1})]
    baseline = score_sequence(gts, warped, name=seq).jf
    fast = score_sequence(gts, tracked, name=seq).jf
    assert fast >= baseline + 0.03, (seq, round(baseline, 3), round(fast, 3))


def test_where_the_flow_is_inconsistent_the_colours_decide() -> None:
    """A carried mask that is sure of itself (0/1) but whose flow does not undo itself in the band
    (revealed background, fast limbs): with the distrust the band follows the colours."""
    lab = np.empty((H, W, 3), np.uint8)
    lab[..., 0], lab[..., 1:] = 120, 128
    lab[_disc(43, 45)] = (150, 180, 160)
    colour = ColourModel()
    colour.add(lab, _disc(43, 45), ring_px=6)
    carried = _disc(40, 45).astype(np.float32)  # 3 px behind the object, and certain
    truth = _disc(43, 45)
    def iou(a: np.ndarray) -> float:
        return float((a & truth).sum() / (a | truth).sum())
    grid = PixelGrid.of(H, W)
    backward, forward = _translation(0, 0), _translation(5, 5)  # they disagree by 7 px everywhere
    kept = pull_warp.step(carried, backward, forward, grid, lab, colour, band_px=4, colour_weight=0.75,
                          fb_sigma=1.5, min_part=0.1)
    trusted = pull_warp.step(carried, backward, forward, grid, lab, colour, band_px=4, colour_weight=0.75,
                             fb_sigma=1.5, min_part=0.1, distrust=True)
    assert iou(kept.soft > 0.5) == pytest.approx(iou(_disc(40, 45)))  # a certain mask ignores colour
    before, after = iou(kept.soft > 0.5), iou(trusted.soft > 0.5)
    assert after > before + 0.1, (before, after)
    assert kept.reliability < 0.01
