"""The simulated user: where it clicks, how it scores, and that it drives a Segmenter properly."""

from __future__ import annotations

from collections.abc import Hashable

import cv2
import numpy as np
import pytest

from annotator.engines.segmenter import MaskResult, Prompt, Segmenter
from annotator.sim.click_robot import ClickRun, mask_iou, next_click, run_clicks, summarize


def _rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_first_click_is_the_deepest_point_of_the_object_and_positive() -> None:
    gt = _rect(60, 80, 10, 41, 20, 51)  # a 31 x 31 square: one deepest pixel, its centre
    click = next_click(gt, None)
    assert click is not None and click.positive and click.label == 1
    assert (click.x, click.y) == (35, 25)


def test_extra_region_gets_a_negative_click_at_its_centre() -> None:
    gt = _rect(60, 80, 10, 30, 10, 30)
    pred = gt | _rect(60, 80, 35, 56, 45, 66)  # a 21 x 21 false positive
    click = next_click(gt, pred)
    assert click is not None and not click.positive
    assert (click.x, click.y) == (55, 45)


def test_the_deeper_error_region_wins() -> None:
    gt = _rect(100, 100, 5, 15, 5, 15) | _rect(100, 100, 50, 95, 50, 95)
    pred = _rect(100, 100, 50, 95, 50, 95)  # misses the small square only ...
    pred |= _rect(100, 100, 20, 40, 60, 90)  # ... and adds a bigger rectangle
    click = next_click(gt, pred)
    assert click is not None and not click.positive
    assert 20 <= click.y < 40 and 60 <= click.x < 90


def test_image_border_counts_as_region_border() -> None:
    gt = np.zeros((40, 100), bool)
    gt[:, :30] = True  # touches the left, top and bottom borders
    click = next_click(gt, None)
    assert click is not None
    # Without padding the deepest points would lie on the left border (x = 0); with it they
    # lie on the band's centre line, away from the top and bottom too.
    assert click.x in (14, 15)
    assert 14 <= click.y <= 25


def test_clicked_pixels_are_never_clicked_again() -> None:
    gt = _rect(30, 30, 5, 26, 5, 26)
    clicked = np.zeros_like(gt)
    first = next_click(gt, None, clicked)
    assert first is not None
    clicked[first.y, first.x] = True
    second = next_click(gt, None, clicked)
    assert second is not None and (second.x, second.y) != (first.x, first.y)


def test_no_click_when_the_mask_is_perfect_and_shape_mismatch_raises() -> None:
    gt = _rect(20, 20, 2, 9, 2, 9)
    assert next_click(gt, gt.copy()) is None
    with pytest.raises(ValueError, match="shape"):
        next_click(gt, np.zeros((21, 20), bool))


def test_iou_and_noc() -> None:
    a = _rect(10, 10, 0, 5, 0, 10)
    b = _rect(10, 10, 0, 10, 0, 10)
    assert mask_iou(a, b) == pytest.approx(0.5)
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0
    run = ClickRun("x", ious=[0.5, 0.86, 0.88, 0.91])
    assert run.noc(0.85) == 2
    assert run.noc(0.90) == 4
    assert run.noc(0.95, max_clicks=10) == 10  # never reached: counts the maximum
    assert run.iou_at(1) == 0.5 and run.iou_at(7) == 0.91  # a run that stopped early pads


class _DiscSegmenter:
    """A real, tiny Segmenter: the union of discs around positive clicks minus discs around
    negative ones, grown from the prior. Records what it is given."""

    name = "discs"
    device = "cpu"

    def __init__(self, radius: int) -> None:
        self.radius = radius
        self.images: dict[Hashable, np.ndarray] = {}
        self.prepare_calls = 0
        self.priors: list[np.ndarray | None] = []

    def prepare(self, image: np.ndarray, key: Hashable) -> float:
        self.prepare_calls += 1
        self.images[key] = image
        return 0.0

    def is_prepared(self, key: Hashable) -> bool:
        return key in self.images

    def predict(self, prompt: Prompt, key: Hashable) -> MaskResult:
        h, w = self.images[key].shape[:2]
        self.priors.append(None if prompt.prior is None else prompt.prior.copy())
        mask = np.zeros((h, w), np.uint8) if prompt.prior is None else (prompt.prior > 0).astype(np.uint8)
        for (x, y), label in zip(prompt.points.tolist(), prompt.labels.tolist()):
            cv2.circle(mask, (int(x), int(y)), self.radius, int(label), -1)
        out = mask.astype(bool)
        return MaskResult(out, 1.0, np.where(out, 1.0, -1.0).astype(np.float32))


def test_run_clicks_drives_a_segmenter_with_priors_and_summarizes() -> None:
    gt = np.zeros((64, 96), np.uint8)
    cv2.circle(gt, (30, 32), 14, 1, -1)
    cv2.circle(gt, (72, 30), 9, 1, -1)
    gt = gt.astype(bool)
    image = np.zeros((64, 96, 3), np.uint8)
    seg = _DiscSegmenter(radius=8)
    assert isinstance(seg, Segmenter)
    run = run_clicks(seg, image, gt, key="img", max_clicks=10, name="two discs")
    assert seg.prepare_calls == 1
    assert 1 <= len(run.clicks) <= 10 and len(run.ious) == len(run.clicks) == len(run.predict_s)
    assert run.clicks[0].positive
    assert seg.priors[0] is None
    # Every later call gets the previous result's logits back as the prior.
    assert all(p is not None for p in seg.priors[1:])
    assert run.ious[-1] > run.ious[0]
    summary = summarize([run, run])
    assert summary.images == 2
    assert summary.iou_at[1] == pytest.approx(run.ious[0])
    assert summary.noc[85] == pytest.approx(run.noc(0.85))
    with pytest.raises(ValueError):
        summarize([])


def test_run_clicks_rejects_a_ground_truth_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="does not match"):
        run_clicks(_DiscSegmenter(3), np.zeros((10, 10, 3), np.uint8), np.zeros((9, 10), bool), "k")
