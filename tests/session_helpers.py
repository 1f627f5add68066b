"""Shared helpers for tests that drive a real Session on the bundled sample video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from annotator.core import masks as rle_ops

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "sample.mp4"
SAMPLE_GT = REPO / "resources" / "sample_gt.json"


def copy_sample(folder: Path) -> Path:
    """A private copy of the sample, so the project file lands in the test's tmp dir."""
    target = folder / "sample.mp4"
    shutil.copy(SAMPLE, target)
    return target


def sample_gt(object_id: int, frame: int) -> np.ndarray:
    gt = json.loads(SAMPLE_GT.read_text())
    return rle_ops.decode(gt["objects"][str(object_id)]["masks"][frame])


def centroid(mask: np.ndarray) -> tuple[float, float]:
    """The mask pixel nearest the centroid (always inside the object)."""
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean(), ys.mean()
    i = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    return float(xs[i]), float(ys[i])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
