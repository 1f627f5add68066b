"""The standard simulated user for click-to-segment evaluation (the RITM / f-BRS protocol).

Given the ground truth and the current prediction, the next click goes to the error pixel
that lies farthest from the border of its error region: the maximum of the distance transform
of the false negatives and of the false positives, with the image border counted as border.
The click is positive when that point was missed (false negative) and negative when it is
extra (false positive); a pixel already clicked is never clicked again. Ties go to the first
pixel in row-major order, so a run is deterministic.

``run_clicks`` drives any :class:`~annotator.engines.segmenter.Segmenter` through that protocol
(prepare once per image, then predict with all clicks so far and the previous result's logits
as the prior), and ``summarize`` reports mean IoU after k clicks and NoC@85 / NoC@90. Qt-free
and torch-free: the segmenter is duck-typed and ``Prompt`` is imported only when a run starts.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from annotator.engines.segmenter import Segmenter

DEFAULT_MAX_CLICKS = 10


@dataclass(frozen=True)
class Click:
    x: int
    y: int
    positive: bool

    @property
    def label(self) -> int:
        return 1 if self.positive else 0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks; two empty masks count as a perfect match."""
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _border_distance(region: np.ndarray) -> np.ndarray:
    # Padding with zeros makes the image border count as the region's border, so a click is not
    # drawn to the frame edge of an error region that touches it.
    padded = np.pad(region.astype(np.uint8), 1, constant_values=0)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def next_click(gt: np.ndarray, pred: np.ndarray | None, clicked: np.ndarray | None = None) -> Click | None:
    """The next simulated click, or None when the prediction has no error left to click.

    ``clicked`` (HxW bool) marks pixels clicked before; they are never chosen again.
    """
    gt = np.asarray(gt, bool)
    pred = np.zeros_like(gt) if pred is None else np.asarray(pred, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    fn_dt = _border_distance(gt & ~pred)
    fp_dt = _border_distance(~gt & pred)
    if clicked is not None:
        fn_dt[clicked] = 0
        fp_dt[clicked] = 0
    fn_max, fp_max = float(fn_dt.max()), float(fp_dt.max())
    if max(fn_max, fp_max) <= 0:
        return None
    positive = fn_max > fp_max
    dt = fn_dt if positive else fp_dt
    y, x = np.unravel_index(int(np.argmax(dt)), dt.shape)  # first maximum in row-major order
    return Click(int(x), int(y), positive)


@dataclass
class ClickRun:
    """One image under the protocol: IoU and predict time after each click."""

    name: str
    clicks: list[Click] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)  # ious[k] = IoU after k + 1 clicks
    predict_s: list[float] = field(default_factory=list)
    prepare_s: float = 0.0

    def iou_at(self, k: int) -> float:
        """IoU after k clicks (the last one when the run stopped early with a perfect mask)."""
        if not self.ious:
            return 0.0
        return self.ious[min(k, len(self.ious)) - 1]

    def noc(self, threshold: float, max_clicks: int = DEFAULT_MAX_CLICKS) -> int:
        """Clicks needed to reach ``threshold`` IoU; ``max_clicks`` when it is never reached."""
        for k, iou in enumerate(self.ious[:max_clicks], start=1):
            if iou >= threshold:
                return k
        return max_clicks


def run_clicks(
    segmenter: Segmenter,
    image: np.ndarray,
    gt: np.ndarray,
    key: Hashable,
    max_clicks: int = DEFAULT_MAX_CLICKS,
    name: str = "",
    box: np.ndarray | None = None,
) -> ClickRun:
    """Click up to ``max_clicks`` times on one image, each prediction refining the previous one."""
    from annotator.engines.segmenter import Prompt  # numpy-only module; kept local so core stays light

    gt = np.asarray(gt, bool)
    if gt.shape != image.shape[:2]:
        raise ValueError(f"ground truth {gt.shape} does not match image {image.shape[:2]}")
    run = ClickRun(name=name or str(key))
    t0 = time.perf_counter()
    segmenter.prepare(image, key)
    run.prepare_s = time.perf_counter() - t0
    clicked = np.zeros_like(gt)
    pred: np.ndarray | None = None
    prior: np.ndarray | None = None
    for _ in range(max_clicks):
        click = next_click(gt, pred, clicked)
        if click is None:
            break  # perfect mask: nothing left to click (iou_at pads with the last value)
        run.clicks.append(click)
        clicked[click.y, click.x] = True
        prompt = Prompt(
            points=np.array([[c.x, c.y] for c in run.clicks], np.float32),
            labels=np.array([c.label for c in run.clicks], np.int32),
            box=box,
            prior=prior,
        )
        t0 = time.perf_counter()
        result = segmenter.predict(prompt, key)
        run.predict_s.append(time.perf_counter() - t0)
        pred, prior = np.asarray(result.mask, bool), result.logits
        run.ious.append(mask_iou(pred, gt))
    return run


@dataclass(frozen=True)
class Summary:
    images: int
    iou_at: dict[int, float]  # k -> mean IoU after k clicks
    noc: dict[int, float]  # threshold percent (85, 90) -> mean NoC
    mean_predict_s: float
    mean_prepare_s: float


def summarize(
    runs: Sequence[ClickRun],
    ks: Iterable[int] = (1, 3, 5),
    thresholds: Iterable[int] = (85, 90),
    max_clicks: int = DEFAULT_MAX_CLICKS,
) -> Summary:
    """Mean IoU after each k in ``ks`` and mean NoC at each IoU threshold (in percent)."""
    if not runs:
        raise ValueError("no runs to summarize")
    times = [t for r in runs for t in r.predict_s]
    return Summary(
        images=len(runs),
        iou_at={k: float(np.mean([r.iou_at(k) for r in runs])) for k in ks},
        noc={t: float(np.mean([r.noc(t / 100.0, max_clicks) for r in runs])) for t in thresholds},
        mean_predict_s=float(np.mean(times)) if times else 0.0,
        mean_prepare_s=float(np.mean([r.prepare_s for r in runs])),
    )
