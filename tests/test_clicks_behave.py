"""Clicks that behave (issue 13): a negative click is local, and clicks given at once (the CLI's
``--point ... --point ...``) give the same mask as the same clicks given one at a time (the app).

The negative-click rule: pixels outside the connected part the click removes, and farther from
the click than max(20 px, 10 % of the mask's bounding-box diagonal), change by less than 1 % of
the mask's area. The scene is the camel-and-fence case: a tracked mask that leaked from an
animal into a fence of the same colour that touches it; the user clicks on the fence, twice.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from annotator.cli.main import main
from annotator.core.imageio import read_label_png, write_image
from annotator.engines.classical import ClassicalSegmenter
from annotator.engines.segmenter import Prompt, replay_clicks
from annotator.sim.click_robot import mask_iou, next_click

H, W = 240, 360


def camel_and_fence(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, the animal's mask, the fence's mask): both sandy brown on a grass-and-sky scene."""
    rng = np.random.default_rng(seed)
    image = np.zeros((H, W, 3), np.float32)
    image[:] = (90, 140, 70)  # grass
    image[: H // 3] = (150, 190, 230)  # sky
    image += rng.normal(0, 8, image.shape)
    camel = np.zeros((H, W), np.uint8)
    cv2.ellipse(camel, (110, 140), (60, 38), 0, 0, 360, 1, -1)
    cv2.ellipse(camel, (165, 95), (14, 30), 20, 0, 360, 1, -1)  # neck and head
    fence = np.zeros((H, W), np.uint8)
    fence[150:162, 165:W] = 1  # a rail touching the animal's side, running off to the right
    for x in range(200, W, 45):
        fence[120:200, x:x + 8] = 1  # posts
    sand = np.array((196, 160, 110), np.float32)
    for m, shade in ((camel, 0.0), (fence, -12.0)):
        sel = m.astype(bool)
        image[sel] = sand + shade + rng.normal(0, 8, (int(sel.sum()), 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image, camel.astype(bool), fence.astype(bool) & ~camel.astype(bool)


def allowed_zone(before: np.ndarray, after: np.ndarray, click: tuple[int, int]) -> np.ndarray:
    ys, xs = np.nonzero(before)
    radius = max(20.0, 0.1 * float(np.hypot(np.ptp(xs) + 1, np.ptp(ys) + 1)))
    zone = np.zeros(before.shape, np.uint8)
    cv2.circle(zone, click, int(radius), 1, -1)
    removed = (before & ~after).astype(np.uint8)
    if removed[click[1], click[0]]:
        _, comp = cv2.connectedComponents(removed, connectivity=8)
        zone |= (comp == comp[click[1], click[0]]).astype(np.uint8)
    return zone.astype(bool)


@pytest.mark.parametrize("start", ["tracked mask that leaked", "positive click on the animal"])
def test_negative_clicks_on_a_touching_fence_stay_local(start: str) -> None:
    image, camel, fence = camel_and_fence()
    seg = ClassicalSegmenter()
    seg.prepare(image, "f")
    if start == "tracked mask that leaked":
        mask = camel | fence
        prior = seg.prior_from_mask(mask, "f")
        points, labels = [], []
    else:
        result = seg.predict(Prompt(np.array([[110, 140]], np.float32), np.array([1], np.int32)), "f")
        mask, prior = result.mask, result.logits
        points, labels = [(110, 140)], [1]
    assert (mask & camel).sum() > 0.97 * camel.sum()
    for click in ((300, 155), (250, 156), (215, 150)):  # on the rail, away from the animal
        points.append(click)
        labels.append(0)
        prompt = Prompt(np.array(points, np.float32), np.array(labels, np.int32), prior=prior)
        result = seg.predict(prompt, "f")
        after = result.mask
        changed = (mask ^ after) & ~allowed_zone(mask, after, click)
        assert changed.sum() < 0.01 * mask.sum(), f"click {click}: {changed.sum()} px changed far away"
        assert (after & camel).sum() > 0.97 * camel.sum()  # the animal stays
        assert not (after & ~mask).any()  # a negative click never adds
        mask, prior = after, result.logits


def _robot_clicks(seg: ClassicalSegmenter, gt: np.ndarray, key: str, n: int) -> tuple[list, list[np.ndarray]]:
    """The click robot, one click at a time with the previous logits (what the app does)."""
    clicked = np.zeros_like(gt)
    clicks, masks, pred, prior = [], [], None, None
    for _ in range(n):
        c = next_click(gt, pred, clicked)
        if c is None:
            break  # a perfect mask: nothing left to click
        clicked[c.y, c.x] = True
        clicks.append(c)
        result = seg.predict(Prompt(np.array([[k.x, k.y] for k in clicks], np.float32),
                                    np.array([k.label for k in clicks], np.int32), prior=prior), key)
        pred, prior = result.mask, result.logits
        masks.append(pred)
    return clicks, masks


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """The animal of the camel-and-fence scene: the first click takes some fence, so later
    clicks include negative ones (the case where a batch and one-by-one used to part ways)."""
    image, camel, _fence = camel_and_fence(seed=1)
    return image, camel


def test_clicks_at_once_equal_clicks_one_by_one(scene) -> None:
    image, gt = scene
    seg = ClassicalSegmenter()
    seg.prepare(image, "f")
    clicks, masks = _robot_clicks(seg, gt, "f", 5)
    assert len(clicks) >= 2
    batch = replay_clicks(seg, Prompt(np.array([[c.x, c.y] for c in clicks], np.float32),
                                      np.array([c.label for c in clicks], np.int32)), "f")
    assert mask_iou(batch.mask, masks[-1]) > 0.9


def test_cli_points_equal_clicks_one_by_one(scene, tmp_path) -> None:
    image, gt = scene
    path = tmp_path / "frame.png"
    write_image(path, image)
    seg = ClassicalSegmenter()
    seg.prepare(image, "f")
    clicks, masks = _robot_clicks(seg, gt, "f", 4)
    assert len(clicks) >= 2
    args = ["segment", str(path), "--model", "classical", "--out", str(tmp_path / "m.png"), "--json"]
    for c in clicks:
        args += ["--point", f"{c.x},{c.y},{c.label}"]
    assert main(args) == 0
    cli_mask = read_label_png(tmp_path / "m.png") > 0
    assert mask_iou(cli_mask, masks[-1]) > 0.9
