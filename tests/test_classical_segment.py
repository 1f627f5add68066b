"""The classical (no-weights) segmenter: clicks, box, refinement, errors, and the simulated user on
real DAVIS frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.core.imageio import read_image, read_label_png
from annotator.engines.classical import ClassicalSegmenter
from annotator.engines.segmenter import Prompt, Segmenter
from annotator.sim.click_robot import mask_iou, next_click, run_clicks, summarize
from annotator.sim.synthetic import render_scene

DAVIS_SEQUENCES = ("car-shadow", "blackswan", "bmx-trees")
DAVIS_FRAMES = (0, 20, 40)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, dict[int, np.ndarray]]:
    # 640x360 is above the working resolution, so the resize and full-resolution pass both run.
    frame, masks = next(render_scene(1, 640, 360, seed=3))
    return frame, masks


@pytest.fixture
def seg(scene: tuple[np.ndarray, dict[int, np.ndarray]]) -> ClassicalSegmenter:
    engine = ClassicalSegmenter()
    engine.prepare(scene[0], "frame")
    return engine


def _click(mask: np.ndarray) -> tuple[int, int]:
    c = next_click(mask, None)
    assert c is not None
    return c.x, c.y


def test_is_a_segmenter_and_caches_prepared_frames(scene, seg: ClassicalSegmenter) -> None:
    assert isinstance(seg, Segmenter)
    assert seg.name == "classical" and seg.device == "cpu"
    assert seg.is_prepared("frame") and not seg.is_prepared("other")
    assert seg.prepare(scene[0], "frame") == 0.0  # cached: nothing to do


def test_positive_click_segments_the_object(scene, seg: ClassicalSegmenter) -> None:
    frame, masks = scene
    for oid, gt in masks.items():
        x, y = _click(gt)
        result = seg.predict(Prompt(points=[[x, y]], labels=[1]), "frame")
        assert result.mask.dtype == bool and result.mask.shape == frame.shape[:2]
        assert mask_iou(result.mask, gt) > 0.85, f"object {oid}"
        assert 0.0 <= result.score <= 1.0
        assert result.logits is not None and result.logits.dtype == np.float32
        assert "decode_ms" in result.timings


def test_negative_click_removes_an_extra_region(scene, seg: ClassicalSegmenter) -> None:
    frame, masks = scene
    gt = masks[2]
    extra = np.zeros_like(gt)
    ys, xs = np.nonzero(gt)
    # A background block beside the object, joined to it: the kind of leak a click must undo.
    y0, x1 = int(ys.mean()) - 25, int(xs.max())
    extra[y0:y0 + 50, x1:x1 + 60] = True
    extra &= ~np.logical_or.reduce(list(masks.values()))
    assert extra.sum() > 1500
    prior = seg.prior_from_mask(gt | extra, "frame")
    ey, ex = np.argwhere(extra)[len(np.argwhere(extra)) // 2]
    gx, gy = _click(gt)
    result = seg.predict(Prompt(points=[[gx, gy], [ex, ey]], labels=[1, 0], prior=prior), "frame")
    assert (result.mask & extra).sum() < 0.2 * extra.sum()
    assert mask_iou(result.mask, gt) > 0.85


def test_a_new_click_refines_instead_of_restarting(scene, seg: ClassicalSegmenter) -> None:
    frame, masks = scene
    gt = masks[1]
    x, y = _click(gt)
    first = seg.predict(Prompt(points=[[x, y]], labels=[1]), "frame")
    # A negative click far away in the background: the object mask must stay as it was.
    bg = ~np.logical_or.reduce(list(masks.values()))
    yy, xx = np.indices(bg.shape)
    by, bx = np.unravel_index(np.argmax(np.where(bg, np.hypot(yy - y, xx - x), 0)), bg.shape)
    second = seg.predict(Prompt(points=[[x, y], [bx, by]], labels=[1, 0], prior=first.logits), "frame")
    grown = second.mask & ~first.mask
    assert grown.sum() <= 0.01 * first.mask.sum()
    assert mask_iou(second.mask, first.mask) > 0.95
    # The prior is what carries the state: a positive click inside the mask changes next to nothing.
    third = seg.predict(Prompt(points=[[x, y], [bx, by], [x + 3, y]], labels=[1, 0, 1], prior=second.logits),
                        "frame")
    assert mask_iou(third.mask, second.mask) > 0.95


def test_box_alone_segments_the_object(scene, seg: ClassicalSegmenter) -> None:
    frame, masks = scene
    gt = masks[2]
    ys, xs = np.nonzero(gt)
    box = [xs.min() - 4, ys.min() - 4, xs.max() + 4, ys.max() + 4]
    result = seg.predict(Prompt(box=box), "frame")
    assert result.mask.shape == frame.shape[:2]
    assert mask_iou(result.mask, gt) > 0.8
    # Nothing outside the box.
    outside = np.ones_like(gt)
    outside[box[1]:box[3] + 1, box[0]:box[2] + 1] = False
    assert not (result.mask & outside).any()


def test_a_box_drawn_after_clicks_bounds_the_mask(scene, seg: ClassicalSegmenter) -> None:
    frame, masks = scene
    gt = masks[1]
    x, y = _click(gt)
    first = seg.predict(Prompt(points=[[x, y]], labels=[1]), "frame")
    ys, xs = np.nonzero(first.mask)
    # A box over the left half of the object only: nothing may stay outside it.
    box = np.array([xs.min(), ys.min(), x + 1, ys.max()], np.float32)
    second = seg.predict(Prompt(points=[[x, y]], labels=[1], box=box, prior=first.logits), "frame")
    inside = np.zeros_like(gt)
    inside[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1] = True
    assert second.mask.any() and not (second.mask & ~inside).any()
    assert (second.mask & gt & inside).sum() > 0.8 * (gt & inside).sum()


def test_negative_clicks_alone_give_an_empty_mask(seg: ClassicalSegmenter) -> None:
    result = seg.predict(Prompt(points=[[30, 30], [200, 100]], labels=[0, 0]), "frame")
    assert result.mask.dtype == bool and not result.mask.any()
    assert result.score == 0.0


def test_empty_prompt_and_unprepared_frame_are_clear_errors(seg: ClassicalSegmenter) -> None:
    with pytest.raises(ValueError, match="no points and no box"):
        seg.predict(Prompt(), "frame")
    with pytest.raises(LookupError, match="not prepared"):
        seg.predict(Prompt(points=[[5, 5]], labels=[1]), "missing")
    with pytest.raises(ValueError, match="RGB"):
        seg.prepare(np.zeros((10, 10), np.uint8), "bad")


def test_prior_from_mask_checks_the_size(seg: ClassicalSegmenter, scene) -> None:
    frame, masks = scene
    logits = seg.prior_from_mask(masks[1], "frame")
    assert logits.ndim == 2 and logits.dtype == np.float32
    assert (logits > 0).any() and (logits < 0).any()
    with pytest.raises(ValueError, match="frame is"):
        seg.prior_from_mask(np.zeros((10, 10), bool), "frame")


def test_odd_sizes_small_frames_and_the_cache_bound() -> None:
    engine = ClassicalSegmenter()
    engine.params.cache_frames = 2
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(((37, 53), (481, 855), (200, 120))):
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        img[h // 4: 3 * h // 4, w // 4: 3 * w // 4] += 150  # a bright block
        engine.prepare(img, i)
        result = engine.predict(Prompt(points=[[w // 2, h // 2]], labels=[1]), i)
        assert result.mask.shape == (h, w) and result.mask.dtype == bool
        block = np.zeros((h, w), bool)
        block[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
        assert mask_iou(result.mask, block) > 0.8
    assert not engine.is_prepared(0) and engine.is_prepared(1) and engine.is_prepared(2)


def _davis_cases(root: Path) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    cases = []
    for seq in DAVIS_SEQUENCES:
        frames = sorted((root / "Annotations" / "480p" / seq).glob("*.png"))
        for k in DAVIS_FRAMES:
            k = min(k, len(frames) - 1)  # car-shadow has 40 frames: its "frame 40" is the last, 39
            image = read_image(root / "JPEGImages" / "480p" / seq / f"{k:05d}.jpg")
            gt = read_label_png(root / "Annotations" / "480p" / seq / f"{k:05d}.png") > 0
            cases.append((seq, k, image, gt))
    return cases


@pytest.mark.slow
def test_simulated_user_on_davis(davis_dir: Path) -> None:
    engine = ClassicalSegmenter()
    runs = [run_clicks(engine, image, gt, (seq, k), max_clicks=10, name=f"{seq}/{k:05d}")
            for seq, k, image, gt in _davis_cases(davis_dir)]
    summary = summarize(runs)
    print(f"\nclassical on DAVIS ({summary.images} frames): mIoU@1 {summary.iou_at[1]:.3f} "
          f"@3 {summary.iou_at[3]:.3f} @5 {summary.iou_at[5]:.3f}  NoC@85 {summary.noc[85]:.2f} "
          f"NoC@90 {summary.noc[90]:.2f}  {summary.mean_predict_s * 1000:.0f} ms/click")
    for run in runs:
        print(f"  {run.name:18s} " + " ".join(f"{v:.3f}" for v in run.ious))
    assert summary.images == 9
    assert summary.iou_at[5] >= 0.65


# The loop's correction (bench/interactive.py): up to 3 robot clicks refining the mask that is
# there. A tracked mask is stood in for by the truth shifted 12 px. Measured (prior_growth 2):
# car-shadow/20 0.842 -> 0.916, cows/52 0.743 -> 0.790, dog/30 0.754 -> 0.812, goat/45 0.740
# -> 0.792, every click raising the IoU; the floors below sit well under that.
REFINE_CASES = (("davis16-mini", "car-shadow", 20), ("davis16-dev", "cows", 52),
                ("davis16-dev", "dog", 30), ("davis16-dev", "goat", 45))


@pytest.mark.parametrize(("folder", "seq", "k"), REFINE_CASES)
def test_three_clicks_refine_a_tracked_mask_on_davis(davis_dir: Path, folder: str, seq: str, k: int) -> None:
    root = davis_dir.parent / folder
    if not (root / "JPEGImages" / "480p" / seq).is_dir():
        pytest.skip(f"DAVIS sequence {seq} not found under {root}")
    image = read_image(root / "JPEGImages" / "480p" / seq / f"{k:05d}.jpg")
    gt = read_label_png(root / "Annotations" / "480p" / seq / f"{k:05d}.png") > 0
    engine = ClassicalSegmenter()
    engine.prepare(image, "f")
    pred = np.roll(gt, 12, axis=1)
    prior = engine.prior_from_mask(pred, "f")
    ious = [mask_iou(pred, gt)]
    clicked = np.zeros_like(gt)
    points: list[list[int]] = []
    labels: list[int] = []
    for _ in range(3):
        click = next_click(gt, pred, clicked)
        assert click is not None
        clicked[click.y, click.x] = True
        points.append([click.x, click.y])
        labels.append(click.label)
        result = engine.predict(Prompt(points=np.array(points, np.float32), labels=np.array(labels, np.int32),
                                       prior=prior), "f")
        pred, prior = np.asarray(result.mask, bool), result.logits
        ious.append(mask_iou(pred, gt))
    assert all(b >= a - 0.02 for a, b in zip(ious, ious[1:])), ious  # no click undoes the others
    assert ious[-1] >= ious[0] + 0.02, ious
