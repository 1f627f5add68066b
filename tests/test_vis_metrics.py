"""The YouTube-VIS evaluator port against the official tool's numbers, and its edge rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.core import masks as rle_ops
from annotator.core.vis_metrics import STAT_NAMES, evaluate_ytvis
from annotator.errors import FormatError


def test_reproduces_the_official_run(davis_dir):
    ref_dir = davis_dir / "reference"
    official = json.loads((ref_dir / "ytvis-eval-official.json").read_text())
    result = evaluate_ytvis(ref_dir / "ytvis-gt.json", ref_dir / "ytvis-results-osvos.json")
    for name in STAT_NAMES:
        assert result.stats[name] == pytest.approx(official["stats"][name], abs=1e-6), name
    assert result.stats["AP"] == pytest.approx(0.664356, abs=1e-6)
    for vid, iou in official["video_iou_by_video_id"].items():
        assert result.video_iou[int(vid)] == pytest.approx(iou, abs=1e-9)
    assert result.summary_lines()[0].endswith("= 0.664")


def _box(h, w, x0, y0, x1, y1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return rle_ops.encode(m)


def _gt(tracks, h=200, w=200, length=3):
    anns = []
    for k, (segs, cat) in enumerate(tracks, start=1):
        anns.append({"id": k, "video_id": 1, "category_id": cat, "iscrowd": 0, "segmentations": segs,
                     "areas": [rle_ops.area(s) if s else None for s in segs]})
    return {"videos": [{"id": 1, "width": w, "height": h, "length": length}],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "annotations": anns}


def test_spatio_temporal_iou_and_matching():
    a = _box(200, 200, 0, 0, 100, 100)  # area 10,000: "small" (< 128^2)
    b = _box(200, 200, 0, 0, 100, 50)
    gt = _gt([([a, a, None], 1)])
    # Half the area on two frames: IoU = (5,000 + 5,000) / (10,000 + 10,000) = 0.5 -> only AP50.
    half = evaluate_ytvis(gt, [{"video_id": 1, "category_id": 1, "score": 0.9,
                                "segmentations": [b, b, None]}])
    assert half.video_iou[1] == pytest.approx(0.5)
    assert half.stats["AP50"] == pytest.approx(1.0) and half.stats["AP75"] == 0.0
    assert half.stats["AP_s"] == pytest.approx(0.1) and half.stats["AP_m"] == -1.0
    # A mask on a frame where the ground truth has none counts in the union.
    extra = evaluate_ytvis(gt, [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [a, a, a]}])
    assert extra.video_iou[1] == pytest.approx(20000 / 30000)
    # A wrong category never matches.
    wrong = evaluate_ytvis(gt, [{"video_id": 1, "category_id": 2, "score": 0.9,
                                 "segmentations": [a, a, None]}])
    assert wrong.stats["AP"] == 0.0


def test_score_order_decides_precision():
    a = _box(200, 200, 0, 0, 100, 100)
    far = _box(200, 200, 150, 150, 200, 200)
    gt = _gt([([a, a, a], 1)])
    good_first = evaluate_ytvis(gt, [
        {"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [a, a, a]},
        {"video_id": 1, "category_id": 1, "score": 0.1, "segmentations": [far, far, far]}])
    bad_first = evaluate_ytvis(gt, [
        {"video_id": 1, "category_id": 1, "score": 0.1, "segmentations": [a, a, a]},
        {"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [far, far, far]}])
    assert good_first.stats["AP"] == pytest.approx(1.0)
    assert bad_first.stats["AP"] == pytest.approx(0.5)  # precision 1/2 at full recall
    assert bad_first.stats["AR1"] == 0.0 and bad_first.stats["AR10"] == pytest.approx(1.0)


def test_inputs_the_official_loader_rejects():
    gt = _gt([([_box(200, 200, 0, 0, 10, 10), None, None], 1)])
    with pytest.raises(FormatError, match="empty"):
        evaluate_ytvis(gt, [])
    with pytest.raises(FormatError, match="not in the ground truth"):
        evaluate_ytvis(gt, [{"video_id": 9, "category_id": 1, "score": 1.0, "segmentations": [None]}])
