"""Fit the tracker confidence (engines/track_confidence.py) and report it leave-one-sequence-out.

    .venv/bin/python bench/calibrate.py --collect data.json     # track the nine, save the evidence
    .venv/bin/python bench/calibrate.py --data data.json        # fit + leave-one-out table
    .venv/bin/python bench/calibrate.py --data data.json --seq dog,cows  # a subset

Collecting (minutes): per sequence, the round 1 of bench/interactive.py without the GUI layer:
the click robot gives up to 3 clicks on frame 0 to the classical segmenter, and the tracker
carries that mask to the end (quality and fast mode). Each written frame gives its evidence
(the features of track_confidence.FEATURES) and its true IoU. Then a round 2: the ground
truth is locked on the worst frame and the span before it is propagated fused (both runs),
which gives the data of the fused model (the two runs' estimates and their agreement).

Fitting: a logistic model of IoU (cross-entropy with the IoU as a soft label, L2 penalty) over
standardised features. Leave-one-sequence-out: fit on eight sequences, score the ninth, pool.
Reported, for the round 1 frames (locked frames excluded), before (the old formula:
reliability x area penalty x colour agreement) and after:
- AUROC of (1 - confidence) for finding frames with IoU < 0.5 (pooled, per-sequence median);
- Spearman correlation with IoU;
- at threshold 0.5 (the default of "next weak frame"): the share of frames with IoU < 0.5 it
  flags (recall) and of frames with IoU > 0.8 it flags (false alarms).
The final fit on all nine is printed as the constants to paste into track_confidence.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from davis_sets import load, sequences  # bench/ is the script's folder

L2 = 1e-2


# --- collecting ----------------------------------------------------------------------------------
def first_mask(image: np.ndarray, gt: np.ndarray, max_clicks: int = 3) -> np.ndarray:
    """Round 1's mask: the click robot on the classical segmenter, each click refining the last."""
    from annotator.engines.classical import ClassicalSegmenter
    from annotator.engines.segmenter import Prompt
    from annotator.sim.click_robot import next_click

    seg = ClassicalSegmenter()
    seg.prepare(image, "frame0")
    clicked = np.zeros_like(gt)
    points, labels, pred, prior = [], [], None, None
    for _ in range(max_clicks):
        click = next_click(gt, pred, clicked)
        if click is None:
            break
        clicked[click.y, click.x] = True
        points.append([click.x, click.y])
        labels.append(click.label)
        result = seg.predict(Prompt(points=np.array(points, np.float32), labels=np.array(labels, np.int32),
                                    prior=prior), "frame0")
        pred, prior = np.asarray(result.mask, bool), result.logits
    return pred if pred is not None else np.zeros_like(gt)


def collect_sequence(seq: str, root: Path, modes: list[str]) -> list[dict]:
    from annotator.engines.classical_track import ClassicalTracker
    from annotator.engines.tracker import ListFrames
    from annotator.sim.click_robot import mask_iou

    frames, gts = load(seq, root)
    start = first_mask(frames[0], gts[0])
    rows = []
    for mode in modes:
        tracker = ClassicalTracker(ListFrames(frames), mode=mode)
        tracker.add_conditioning(0, {1: start})
        ious = {}
        for u in tracker.propagate(0, 1, {1: len(frames) - 1}):
            ious[u.frame] = mask_iou(u.mask, gts[u.frame])
            rows.append({"sequence": seq, "mode": mode, "round": 1, "frame": u.frame, "iou": ious[u.frame],
                         "confidence": u.confidence, "features": u.features or {}})
        worst = min(ious, key=lambda f: (ious[f], f))
        if worst > 1:  # round 2: the truth locked on the worst frame, the span before it fused
            tracker = ClassicalTracker(ListFrames(frames), mode=mode)
            tracker.add_conditioning(0, {1: start})
            tracker.add_conditioning(worst, {1: gts[worst]})
            for u in tracker.propagate(0, 1, {1: worst - 1}):
                rows.append({"sequence": seq, "mode": mode, "round": 2, "frame": u.frame,
                             "iou": mask_iou(u.mask, gts[u.frame]), "confidence": u.confidence,
                             "features": u.features or {}})
        print(f"  {seq} {mode}: {len(frames)} frames, worst frame {worst} (IoU {ious[worst]:.2f})",
              file=sys.stderr, flush=True)
    return rows


# --- fitting ----------------------------------------------------------------------------------------
Model = tuple[np.ndarray, np.ndarray, np.ndarray, float]  # feature mean, scale, weights, bias


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> Model:
    """(mean, scale, weights, bias) minimising cross-entropy with soft labels ``y`` (Newton steps)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2 * len(x))
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def predict(model: Model, x: np.ndarray) -> np.ndarray:
    mean, scale, weights, bias = model
    return 1.0 / (1.0 + np.exp(-np.clip(((x - mean) / scale) @ weights + bias, -40, 40)))


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties count half."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])
    for v in np.unique(allv):  # average ranks of ties
        idx = allv == v
        if idx.sum() > 1:
            ranks[idx] = ranks[idx].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    def rank(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for u in np.unique(v):
            idx = v == u
            if idx.sum() > 1:
                r[idx] = r[idx].mean()
        return r
    ra, rb = rank(a), rank(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def old_formula(f: dict) -> float:
    """The confidence before issue 13: reliability x area penalty x colour agreement."""
    colour = min(max(2.0 * f.get("colour", 0.5), 0.0), 1.0)
    return f.get("rel", 0.0) * math.exp(-1.5 * f.get("area_step", 0.0)) * colour


def report(title: str, seqs: list[str], conf: np.ndarray, iou: np.ndarray, seq_of: np.ndarray) -> dict:
    bad, good = iou < 0.5, iou > 0.8
    per_seq = {s: auroc(1 - conf[seq_of == s], bad[seq_of == s]) for s in seqs}
    flagged = conf < 0.5
    out = {"auroc": auroc(1 - conf, bad), "spearman": spearman(conf, iou),
           "median_seq_auroc": float(np.nanmedian(list(per_seq.values()))),
           "recall_bad": float(flagged[bad].mean()) if bad.any() else float("nan"),
           "flag_good": float(flagged[good].mean()) if good.any() else float("nan"),
           "frames": int(len(iou)), "bad": int(bad.sum()), "per_seq": per_seq}
    print(f"\n{title}")
    print(f"{'sequence':<15} {'frames':>6} {'IoU<.5':>6} {'meanIoU':>7} {'meanConf':>8} {'AUROC':>6} "
          f"{'Spearman':>8}")
    for s in seqs:
        sel = seq_of == s
        print(f"{s:<15} {sel.sum():6d} {int(bad[sel].sum()):6d} {iou[sel].mean():7.3f} "
              f"{conf[sel].mean():8.3f} {per_seq[s]:6.3f} {spearman(conf[sel], iou[sel]):8.3f}")
    print(f"pooled: AUROC {out['auroc']:.3f} (goal >= 0.85), Spearman {out['spearman']:.3f} (>= 0.6), "
          f"per-sequence median AUROC {out['median_seq_auroc']:.3f} (>= 0.8)")
    print(f"at 0.5: finds {out['recall_bad']:.0%} of the {out['bad']} frames with IoU < 0.5 (>= 70 %), "
          f"flags {out['flag_good']:.0%} of the frames with IoU > 0.8 (<= 20 %)")
    return out


def main() -> int:
    from annotator.engines.track_confidence import FEATURES, vector

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collect", type=Path, help="track the sequences and save the evidence here")
    ap.add_argument("--data", type=Path, nargs="+", help="fit and report from saved evidence (files)")
    ap.add_argument("--seq", help="comma-separated sequence names (default: all nine)")
    ap.add_argument("--modes", default="quality,fast")
    ap.add_argument("--l2", type=float, default=L2, help="L2 penalty per frame (standardised features)")
    ap.add_argument("--drop", default="", help="comma-separated features left out of the fit (weight 0)")
    args = ap.parse_args()
    modes = args.modes.split(",")
    if args.collect:
        rows = []
        for seq, root in sequences(args.seq):
            rows += collect_sequence(seq, root, modes)
            args.collect.write_text(json.dumps(rows))  # after each sequence: a long run keeps its work
        args.data = [args.collect]
    if not args.data:
        ap.error("give --collect FILE or --data FILE")
    rows = [row for path in args.data for row in json.loads(path.read_text())]
    if args.seq:
        rows = [r for r in rows if r["sequence"] in args.seq.split(",")]
    for mode in modes:
        sel = [r for r in rows if r["mode"] == mode and r["round"] == 1]
        seqs = list(dict.fromkeys(r["sequence"] for r in sel))
        keep = np.array([name not in args.drop.split(",") for name in FEATURES])
        x = np.array([vector(r["features"]) for r in sel]) * keep  # a dropped feature is constant 0
        iou = np.array([r["iou"] for r in sel])
        seq_of = np.array([r["sequence"] for r in sel])
        report(f"[{mode}] BEFORE: the old confidence formula, round 1 frames",
               seqs, np.array([old_formula(r["features"]) for r in sel]), iou, seq_of)
        report(f"[{mode}] AS SHIPPED: the stored confidence of each frame (constants in the module)",
               seqs, np.array([r["confidence"] for r in sel]), iou, seq_of)
        loo = np.zeros(len(sel))
        for s in seqs:
            held = seq_of == s
            loo[held] = predict(fit_logistic(x[~held], iou[~held], args.l2), x[held])
        report(f"[{mode}] AFTER, leave-one-sequence-out (fit on the other {len(seqs) - 1})",
               seqs, loo, iou, seq_of)
        mean, scale, weights, bias = fit_logistic(x, iou, args.l2)
        fmt = lambda v: "(" + ", ".join(f"{float(a):.4g}" for a in v) + ")"  # noqa: E731
        print(f"\nconstants for track_confidence.MODELS[{mode!r}] (features {', '.join(FEATURES)}):")
        pad = " " * 14
        print(f'    "{mode}": ({fmt(mean)},\n{pad}{fmt(scale)},\n{pad}{fmt(weights)}, {bias:.4g}),')
        fused = [r for r in rows if r["mode"] == mode and r["round"] == 2 and "agreement" in r["features"]]
        if fused:
            fx = np.array([[_logit(r["features"]["chosen_confidence"]),
                            _logit(r["features"]["other_confidence"]), r["features"]["agreement"]]
                           for r in fused])
            fy = np.array([r["iou"] for r in fused])
            fm = fit_logistic(fx, fy, l2=1e-3)
            w = fm[2] / fm[1]
            b = fm[3] - float((fm[0] / fm[1]) @ fm[2])
            print(f"FUSED for {mode} ({len(fused)} fused frames, Spearman of the refit "
                  f"{spearman(predict(fm, fx), fy):.3f}): ({fmt(w)}, {b:.4g})")
    return 0


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


if __name__ == "__main__":
    raise SystemExit(main())
