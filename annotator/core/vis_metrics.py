"""YouTube-VIS evaluation: a faithful port of the official ``YTVOSeval`` (segm).

The official code is youtubevos/cocoapi ``PythonAPI/pycocotools/ytvoseval.py`` and ``ytvos.py``.
Its setup installs a package named ``pycocotools`` that shadows the real one, so it is ported
here on top of PyPI pycocotools instead of being installed. What it computes:

- IoU between a predicted and a ground-truth *track* is spatio-temporal: the sum over frames of
  |d & g| over the sum over frames of |d | g|, walking the two per-frame lists pairwise (``zip``:
  the official code silently stops at the shorter one, kept here). A frame where only one side
  has a mask adds its area to the union; a pair with an empty union scores 0.
- Matching per video and category, detections sorted by score (mergesort, so ties keep file
  order), at most ``maxDets[-1]`` of them; crowd ground truth is ignored (``iscrowd`` 1) and never
  gets a special IoU (unlike image COCO, the official code passes ``iscrowd`` nowhere).
- Area ranges use ``avg_area``, the mean of a track's non-empty per-frame areas (a ground truth's
  ``areas`` from its file; a detection's from its masks, as ``loadRes`` computes them):
  all, small < 128^2, medium 128^2..256^2, large > 256^2.
- Precision at 101 recall points, IoU thresholds .50:.05:.95, maxDets [1, 10, 100], and the 12
  COCO-style summary numbers (AP, AP50, AP75, AP_s, AP_m, AP_l, AR1, AR10, AR100, AR_s, AR_m,
  AR_l), -1 where no ground truth falls in a setting.

Checked against the official output on the shipped DAVIS sequences
(reference/ytvis-eval-official.json: AP 0.664356 ...), see tests/test_vis_metrics.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from annotator.errors import FormatError

STAT_NAMES = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l", "AR1", "AR10", "AR100", "AR_s", "AR_m", "AR_l")


@dataclass
class Params:
    iou_thrs: np.ndarray = field(default_factory=lambda: np.linspace(0.5, 0.95, 10, endpoint=True))
    rec_thrs: np.ndarray = field(default_factory=lambda: np.linspace(0.0, 1.0, 101, endpoint=True))
    max_dets: list[int] = field(default_factory=lambda: [1, 10, 100])
    area_rng: list[list[float]] = field(default_factory=lambda: [
        [0 ** 2, 1e5 ** 2], [0 ** 2, 128 ** 2], [128 ** 2, 256 ** 2], [256 ** 2, 1e5 ** 2]])
    area_lbl: list[str] = field(default_factory=lambda: ["all", "small", "medium", "large"])
    use_cats: bool = True
    video_ids: list[int] = field(default_factory=list)
    cat_ids: list[int] = field(default_factory=list)


@dataclass
class VisEvalResult:
    stats: dict[str, float]
    video_iou: dict[int, float]  # best IoU of any detection with the video's (first) ground truth
    precision: np.ndarray  # [T, R, K, A, M]
    recall: np.ndarray  # [T, K, A, M]

    def to_json(self) -> dict[str, Any]:
        return {"stats": {k: round(float(v), 6) for k, v in self.stats.items()},
                "video_iou": {str(k): round(float(v), 6) for k, v in self.video_iou.items()}}

    def summary_lines(self) -> list[str]:
        """The official ``summarize()`` printout."""
        settings = [(1, "0.50:0.95", "all", 100), (1, "0.50", "all", 100), (1, "0.75", "all", 100),
                    (1, "0.50:0.95", "small", 100), (1, "0.50:0.95", "medium", 100),
                    (1, "0.50:0.95", "large", 100), (0, "0.50:0.95", "all", 1), (0, "0.50:0.95", "all", 10),
                    (0, "0.50:0.95", "all", 100), (0, "0.50:0.95", "small", 100),
                    (0, "0.50:0.95", "medium", 100), (0, "0.50:0.95", "large", 100)]
        lines = []
        for (ap, iou, area, dets), name in zip(settings, STAT_NAMES):
            title, kind = ("Average Precision", "(AP)") if ap else ("Average Recall", "(AR)")
            lines.append(f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={dets:>3d} ] = "
                         f"{self.stats[name]:0.3f}")
        return lines


def evaluate_ytvis(gt: str | Path | dict, results: str | Path | list,
                   params: Params | None = None) -> VisEvalResult:
    """Evaluate a results list against YouTube-VIS ground truth, like ``YTVOSeval(gt, dt, 'segm')``."""
    gt_doc = _load(gt, dict, "ground truth")
    res = _load(results, list, "results")
    gt_path = str(gt) if isinstance(gt, (str, Path)) else "ground truth"
    videos = {v["id"]: v for v in gt_doc.get("videos", [])}
    if not res:
        raise FormatError("the results list is empty (the official loader cannot evaluate that)",
                          results if isinstance(results, (str, Path)) else None)
    unknown = {r.get("video_id") for r in res} - set(videos)
    if unknown:
        raise FormatError(f"results name video ids not in the ground truth: {sorted(map(str, unknown))}",
                          results if isinstance(results, (str, Path)) else None)
    p = params or Params()
    p.video_ids = sorted(videos)
    p.cat_ids = sorted(c["id"] for c in gt_doc.get("categories", []))
    gts = [_prepare_gt(a, videos, gt_path) for a in gt_doc.get("annotations", [])]
    dts = [_prepare_dt(d, k, videos) for k, d in enumerate(res)]
    return _Evaluator(p, gts, dts).run()


def _load(value: Any, kind: type, what: str) -> Any:
    if isinstance(value, (str, Path)):
        try:
            with open(value, encoding="utf-8") as f:
                value = json.load(f)
        except (OSError, ValueError) as exc:
            raise FormatError(f"cannot read the {what} ({exc})", value) from exc
    if not isinstance(value, kind):
        raise FormatError(f"the {what} must be a JSON {kind.__name__}")
    return value


def _to_rle(seg: Any, h: int, w: int) -> Any:
    """``annToRLE``: polygons, uncompressed or compressed RLE -> pycocotools RLE."""
    if isinstance(seg, list):
        return coco_mask.merge(coco_mask.frPyObjects(seg, h, w))
    if isinstance(seg.get("counts"), list):
        return coco_mask.frPyObjects(seg, h, w)
    counts = seg["counts"]
    return {"size": seg["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def _avg_area(areas: Sequence[Any]) -> float:
    present = [a for a in areas if a]  # None and 0 both drop out, as in the official code
    return float(np.array(present).mean()) if present else 0.0


def _prepare_gt(ann: dict, videos: dict, path: str) -> dict:
    vid = videos[ann["video_id"]]
    h, w = vid["height"], vid["width"]
    segs = [_to_rle(s, h, w) if s else None for s in ann["segmentations"]]
    return {"id": ann["id"], "video_id": ann["video_id"], "category_id": ann["category_id"],
            "segs": segs, "avg_area": _avg_area(ann["areas"]), "iscrowd": int(ann.get("iscrowd", 0)),
            "ignore": bool(ann.get("iscrowd", 0))}


def _prepare_dt(ann: dict, index: int, videos: dict) -> dict:
    vid = videos[ann["video_id"]]
    h, w = vid["height"], vid["width"]
    segs = [_to_rle(s, h, w) if s else None for s in ann["segmentations"]]
    areas = [int(coco_mask.area(s)) if s is not None else None for s in segs]
    return {"id": index + 1, "video_id": ann["video_id"], "category_id": ann["category_id"],
            "score": float(ann["score"]), "segs": segs, "avg_area": _avg_area(areas), "iscrowd": 0}


def _iou_seq(d_seq: list, g_seq: list) -> float:
    inter = union = 0.0
    for d, g in zip(d_seq, g_seq):
        if d is not None and g is not None:
            inter += float(coco_mask.area(coco_mask.merge([d, g], intersect=True)))
            union += float(coco_mask.area(coco_mask.merge([d, g], intersect=False)))
        elif g is not None:
            union += float(coco_mask.area(g))
        elif d is not None:
            union += float(coco_mask.area(d))
    return inter / union if union > 0 else 0.0


class _Evaluator:
    def __init__(self, p: Params, gts: list[dict], dts: list[dict]) -> None:
        self.p = p
        self._gts: dict[tuple[int, int], list[dict]] = defaultdict(list)
        self._dts: dict[tuple[int, int], list[dict]] = defaultdict(list)
        for g in gts:
            self._gts[g["video_id"], g["category_id"]].append(g)
        for d in dts:
            self._dts[d["video_id"], d["category_id"]].append(d)

    def run(self) -> VisEvalResult:
        p = self.p
        cat_ids = p.cat_ids if p.use_cats else [-1]
        self.ious = {(v, c): self._compute_iou(v, c) for v in p.video_ids for c in cat_ids}
        max_det = p.max_dets[-1]
        self.eval_vids = [self._evaluate_video(v, c, a, max_det) for c in cat_ids for a in p.area_rng
                          for v in p.video_ids]
        precision, recall = self._accumulate()
        stats = self._summarize(precision, recall)
        return VisEvalResult(dict(zip(STAT_NAMES, stats)), self._video_iou(), precision, recall)

    def _pair(self, video: int, cat: int) -> tuple[list[dict], list[dict]]:
        if self.p.use_cats:
            return self._gts[video, cat], self._dts[video, cat]
        gt = [g for c in self.p.cat_ids for g in self._gts[video, c]]
        dt = [d for c in self.p.cat_ids for d in self._dts[video, c]]
        return gt, dt

    def _compute_iou(self, video: int, cat: int) -> np.ndarray:
        gt, dt = self._pair(video, cat)
        if not gt and not dt:
            return np.zeros((0, 0))
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in order][: self.p.max_dets[-1]]
        ious = np.zeros((len(dt), len(gt)))
        for i, j in np.ndindex(ious.shape):
            ious[i, j] = _iou_seq(dt[i]["segs"], gt[j]["segs"])
        return ious

    def _evaluate_video(self, video: int, cat: int, a_rng: list[float], max_det: int) -> dict | None:
        p = self.p
        gt, dt = self._pair(video, cat)
        if not gt and not dt:
            return None
        for g in gt:
            g["_ignore"] = 1 if (g["ignore"] or g["avg_area"] < a_rng[0] or g["avg_area"] > a_rng[1]) else 0
        gt_order = np.argsort([g["_ignore"] for g in gt], kind="mergesort")
        gt = [gt[i] for i in gt_order]
        dt_order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in dt_order[0:max_det]]
        iscrowd = [int(g["iscrowd"]) for g in gt]
        ious = self.ious[video, cat]
        ious = ious[:, gt_order] if ious.size else ious
        t_count, g_count, d_count = len(p.iou_thrs), len(gt), len(dt)
        gtm = np.zeros((t_count, g_count))
        dtm = np.zeros((t_count, d_count))
        gt_ig = np.array([g["_ignore"] for g in gt])
        dt_ig = np.zeros((t_count, d_count))
        if ious.size:
            for tind, t in enumerate(p.iou_thrs):
                for dind, d in enumerate(dt):
                    iou = min(t, 1 - 1e-10)
                    m = -1
                    for gind in range(g_count):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gt_ig[m] == 0 and gt_ig[gind] == 1:
                            break
                        if ious[dind, gind] < iou:
                            continue
                        iou = ious[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dt_ig[tind, dind] = gt_ig[m]
                    dtm[tind, dind] = gt[m]["id"]
                    gtm[tind, m] = d["id"]
        outside = np.array([d["avg_area"] < a_rng[0] or d["avg_area"] > a_rng[1] for d in dt])
        outside = outside.reshape((1, d_count))
        dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(outside, t_count, 0)))
        return {"dt_matches": dtm, "dt_scores": [d["score"] for d in dt], "gt_ignore": gt_ig,
                "dt_ignore": dt_ig}

    def _accumulate(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        t_count, r_count = len(p.iou_thrs), len(p.rec_thrs)
        k_count = len(p.cat_ids) if p.use_cats else 1
        a_count, m_count = len(p.area_rng), len(p.max_dets)
        precision = -np.ones((t_count, r_count, k_count, a_count, m_count))
        recall = -np.ones((t_count, k_count, a_count, m_count))
        n_videos = len(p.video_ids)
        for k in range(k_count):
            for a in range(a_count):
                base = k * a_count * n_videos + a * n_videos
                for m, max_det in enumerate(p.max_dets):
                    entries = [e for e in self.eval_vids[base:base + n_videos] if e is not None]
                    if not entries:
                        continue
                    scores = np.concatenate([e["dt_scores"][0:max_det] for e in entries])
                    inds = np.argsort(-scores, kind="mergesort")
                    dtm = np.concatenate([e["dt_matches"][:, 0:max_det] for e in entries], axis=1)[:, inds]
                    dt_ig = np.concatenate([e["dt_ignore"][:, 0:max_det] for e in entries], axis=1)[:, inds]
                    gt_ig = np.concatenate([e["gt_ignore"] for e in entries])
                    npig = np.count_nonzero(gt_ig == 0)
                    if npig == 0:
                        continue
                    tps = np.logical_and(dtm, np.logical_not(dt_ig))
                    fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
                    tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
                    fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
                    for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                        nd = len(tp)
                        rc = tp / npig
                        pr = (tp / (fp + tp + np.spacing(1))).tolist()
                        recall[t, k, a, m] = rc[-1] if nd else 0
                        for i in range(nd - 1, 0, -1):
                            if pr[i] > pr[i - 1]:
                                pr[i - 1] = pr[i]
                        q = np.zeros((r_count,))
                        positions = np.searchsorted(rc, p.rec_thrs, side="left")
                        for ri, pi in enumerate(positions):
                            if pi >= nd:
                                break  # the official code stops here through an IndexError
                            q[ri] = pr[pi]
                        precision[t, :, k, a, m] = q
        return precision, recall

    def _summarize(self, precision: np.ndarray, recall: np.ndarray) -> list[float]:
        p = self.p

        def one(ap: bool, iou_thr: float | None = None, area: str = "all", max_dets: int = 100) -> float:
            aind = [i for i, lbl in enumerate(p.area_lbl) if lbl == area]
            mind = [i for i, m in enumerate(p.max_dets) if m == max_dets]
            s = precision if ap else recall
            if iou_thr is not None:
                s = s[np.where(np.isclose(p.iou_thrs, iou_thr))[0]]
            s = s[:, :, :, aind, mind] if ap else s[:, :, aind, mind]
            valid = s[s > -1]
            return float(np.mean(valid)) if valid.size else -1.0

        last = p.max_dets[2]
        return [one(True), one(True, 0.5, max_dets=last), one(True, 0.75, max_dets=last),
                one(True, area="small", max_dets=last), one(True, area="medium", max_dets=last),
                one(True, area="large", max_dets=last), one(False, max_dets=p.max_dets[0]),
                one(False, max_dets=p.max_dets[1]), one(False, max_dets=last),
                one(False, area="small", max_dets=last), one(False, area="medium", max_dets=last),
                one(False, area="large", max_dets=last)]

    def _video_iou(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for (video, _cat), ious in self.ious.items():
            if ious.size:
                out[video] = max(out.get(video, 0.0), float(ious.max()))
        return out
