"""Fit the tracker confidence (engines/track_confidence.py) and judge it leave-one-sequence-out.

    .venv/bin/python bench/calibrate.py --collect data.json     # track the nine, save the evidence
    .venv/bin/python bench/calibrate.py --data data.json        # select, fit, report
    .venv/bin/python bench/calibrate.py --data data.json --max-inputs 3  # also try small subsets
    .venv/bin/python bench/calibrate.py --data data.json --seq dog,cows  # a subset of sequences

Collecting (minutes): per sequence, the round 1 of bench/interactive.py without the GUI layer:
the click robot gives up to 3 clicks on frame 0 to the classical segmenter, and the tracker
carries that mask to the end (quality and fast mode). Each written frame gives its evidence
(track_confidence.FEATURES), its true IoU and the confidence the app showed. Then a round 2:
the ground truth is locked on the worst frame and the span before it is propagated fused (both
runs), which gives the data of the fused model (the two runs' estimates and their agreement).

Model: a logistic model of IoU (cross-entropy with the IoU as a soft label, L2 penalty) over
standardised inputs (track_confidence.INPUTS), optionally with every weight held to the
direction its input means (SIGNS). Frames whose confidence the tracker fixes (lost: 0, re-
detected: 0.3) are left out of the fits and scored with that value, as the app shows them.

The colour trends (track_confidence.follow: the colour evidence averaged along the run) are
recomputed here from each frame's raw evidence at every candidate rate, so the rate is chosen
like the rest of the model.

Model selection, honestly: the candidates (which inputs, which L2, signs held or not, which
trend rate) are judged by the soft cross-entropy of their leave-one-sequence-out estimates. The headline,
NESTED LOO, repeats that whole choice without each sequence in turn (an inner leave-one-out
over the other eight), fits the chosen candidate on those eight and scores the held-out one:
it estimates the procedure, choice included. "PLAIN LOO of the choice made on all nine" is
optimistic (the choice saw every fold); the all-nine fit in sample more so. Reported for the
round 1 frames (locked frames excluded), besides the old formula and the stored confidence:
- AUROC of (1 - confidence) for finding frames with IoU < 0.5 (pooled, per-sequence median);
- Spearman correlation with IoU;
- at the "next weak frame" threshold (weak_threshold, chosen on the same folds as the model;
  nested: each outer fold's own): the share of frames with IoU < 0.5 it flags (recall) and of
  frames with IoU > 0.8 it flags (false alarms).
The all-nine fit of the candidate chosen on all nine, its trend rate and weak threshold are
printed as the constants to paste into track_confidence.py (the fast mode's are not pasted:
docs/design.md says why).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from davis_sets import load, sequences  # bench/ is the script's folder

L2 = 1e-2  # the penalty of the last stop's model
L2S = (1e-2, 1e-1, 1.0)  # the penalties model selection tries
RATES = (0.1, 0.2, 0.3, 1.0)  # the colour trend rates it tries (track_confidence.TREND_RATE)
# Subsets of up to this many inputs are tried besides all of them. 0: only all of them (the
# weights regularised and held to their signs), which generalised best in nested
# leave-one-out; searching subsets overfits nine sequences (docs/design.md has the figures).
MAX_INPUTS = 0


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


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, signs: np.ndarray | None = None,
                 weight: np.ndarray | None = None) -> Model:
    """(mean, scale, weights, bias) minimising cross-entropy with soft labels ``y`` (Newton steps).

    ``signs`` (+1, -1 or 0 per input): the direction each input may push the estimate; an input
    whose weight comes out the other way is dropped (weight 0) and the rest refitted, the worst
    first, until every weight agrees. ``weight``: per-frame weights of the loss (default 1).
    """
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    sw = np.ones(len(x)) if weight is None else weight * (len(x) / weight.sum())
    active = np.ones(z.shape[1], bool)
    while True:
        w = _newton(z[:, active], y, sw, l2)
        full = np.zeros(z.shape[1])
        full[active] = w
        if signs is None:
            break
        wrong = np.append(-np.asarray(signs, float) * full[:-1], 0.0)  # > 0: against its sign
        if wrong.max() <= 0:
            break
        active[int(np.argmax(wrong))] = False
    return mean, scale, full[:-1], float(full[-1])


def _newton(z: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float) -> np.ndarray:
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2 * len(z))
    reg[-1] = 0.0  # the bias (last column) is not penalised
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        grad = z.T @ (sw * (p - y)) + reg * w
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


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


def report(title: str, seqs: list[str], conf: np.ndarray, iou: np.ndarray, seq_of: np.ndarray,
           threshold: float | np.ndarray = 0.5) -> dict:
    """Print and return the figures of ``conf`` against the true IoU; ``threshold``: the weak-frame
    threshold, one for all frames or one per frame (nested: each fold's own)."""
    bad, good = iou < 0.5, iou > 0.8
    per_seq = {s: auroc(1 - conf[seq_of == s], bad[seq_of == s]) for s in seqs}
    flagged = conf < threshold
    where = (f"{threshold:.2f}" if np.isscalar(threshold)
             else f"each fold's threshold ({np.min(threshold):.2f}-{np.max(threshold):.2f})")
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
    print(f"at {where}: finds {out['recall_bad']:.0%} of the {out['bad']} frames with IoU < 0.5 (>= 70 %), "
          f"flags {out['flag_good']:.0%} of the frames with IoU > 0.8 (<= 20 %)")
    if bad.any() and good.any():  # the threshold that would meet the recall goal, for the record
        at = float(np.quantile(conf[bad], 0.7))
        print(f"(a threshold of {at:.2f} would find 70 % and flag {(conf[good] <= at).mean():.0%})")
    return out


# --- model selection: nested leave-one-sequence-out ---------------------------------------------
# The direction each input may push the estimate, from what it means (not fitted): more distance,
# drift, area jump, refinement change or object colour outside the mask means a worse mask;
# more flow consistency, object colour inside, contrast or edge alignment a better one.
SIGNS = {"dist": -1, "rel": 1, "rel_mean": 1, "area_step": -1, "area_ref": -1, "colour": 1,
         "colour_ring": -1, "edge": 1, "refine": -1, "contrast": 1, "colour_gap": 1, "ring_gap": -1,
         "contrast_gap": 1, "drift": -1}


@dataclass(frozen=True)
class Candidate:
    inputs: tuple[str, ...]
    l2: float
    signed: bool  # weights held to SIGNS (inputs against it dropped within the fit)
    rate: float = 1.0  # how fast the colour trends follow each frame (1: no averaging)

    def __str__(self) -> str:
        return (f"{'+'.join(self.inputs)} (L2 {self.l2:g}{', signed' if self.signed else ''}, "
                f"trend rate {self.rate:g})")


def candidates(names: list[str], max_inputs: int, l2s: list[float], signed: list[bool],
               rates: list[float]) -> list[Candidate]:
    """Every subset of up to ``max_inputs`` of ``names``, and all of them, with every L2, every
    sign option and every trend rate."""
    sizes = range(1, min(max_inputs, len(names) - 1) + 1)
    subsets = [c for k in sizes for c in itertools.combinations(names, k)]
    subsets.append(tuple(names))
    return [Candidate(subset, l2, sign, rate) for subset in subsets for l2 in l2s for sign in signed
            for rate in rates]


def with_trends(rows: list[dict], rate: float) -> list[dict]:
    """Each row's features with the colour trends recomputed at ``rate``, in frame order along
    each run (sequence, mode, round), as the tracker computes them (track_confidence.follow)."""
    from annotator.engines.track_confidence import follow

    out = [dict(r["features"]) for r in rows]
    trend: dict[tuple, tuple[float, float]] = {}
    for i in sorted(range(len(rows)), key=lambda i: rows[i]["frame"]):
        run = (rows[i]["sequence"], rows[i]["mode"], rows[i]["round"])
        if "colour_lock" in out[i]:
            trend[run] = follow(trend.get(run), out[i], rate)
    return out


def weak_threshold(conf: np.ndarray, iou: np.ndarray) -> float:
    """The "next weak frame" threshold: where a logistic fit of "IoU < 0.5" (against "IoU > 0.8")
    on the estimates crosses one half, each class weighing the same in the fit. Missing a bad
    frame and flagging a good one count the same as shares of their class (Youden's criterion),
    and the fit is smooth where an argmax over thresholds jumped between folds (0.49-0.74)."""
    keep = (iou < 0.5) | (iou > 0.8)
    bad = (iou[keep] < 0.5).astype(float)
    if bad.min() == bad.max():
        return 0.5
    logit = np.log(np.clip(conf[keep], 1e-4, 1 - 1e-4) / (1 - np.clip(conf[keep], 1e-4, 1 - 1e-4)))
    weight = np.where(bad == 1, 1 / bad.sum(), 1 / (1 - bad).sum())
    mean, scale, w, b = fit_logistic(logit[:, None], bad, l2=1e-3, weight=weight)
    crossing = mean[0] - b * scale[0] / w[0]  # where the fitted P(IoU < 0.5) is one half
    return float(1 / (1 + np.exp(-crossing)))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Cross-entropy with the IoU as a soft label: what the fit minimises, ranking and level."""
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def fixed_values(rows: list[dict]) -> np.ndarray:
    """The confidence the tracker sets without the model (NaN where the model decides): 0.0 on
    a frame where the object is lost (empty mask), 0.3 on a re-detected one (classical_track)."""
    return np.array([r["confidence"] if r["confidence"] in (0.0, 0.3) else np.nan for r in rows])


class Selection:
    """Leave-one-sequence-out predictions of every candidate, for plain and nested model selection.

    A fit that leaves out a set of sequences depends only on that set, so the fits without one
    sequence (plain leave-one-out) and without two (the inner folds of the nested one) are
    computed once per candidate and shared by every outer fold. Frames with a fixed confidence
    (``fixed`` not NaN) are left out of every fit and scored with that value, as in the app.
    """

    def __init__(self, x: dict[float, np.ndarray], y: np.ndarray, seq_of: np.ndarray, fixed: np.ndarray,
                 columns: list[str], cands: list[Candidate], criterion: str = "loss",
                 balance: bool = False) -> None:
        self.x, self.y, self.seq_of, self.fixed = x, y, seq_of, fixed
        self.columns, self.cands, self.criterion = columns, cands, criterion
        self.seqs = list(dict.fromkeys(seq_of))
        free = np.isnan(fixed)
        # balance: every sequence weighs the same in the fit, whatever its length
        counts = {s: int((free & (seq_of == s)).sum()) for s in self.seqs}
        self.weight = np.array([1.0 / max(1, counts[s]) if balance else 1.0 for s in seq_of])
        self.loo = np.zeros((len(cands), len(y)))  # [candidate, frame]: fit without its sequence
        self.inner: dict[tuple[int, str, str], np.ndarray] = {}  # (cand, left out, scored): preds
        for c in range(len(cands)):
            for i, held in enumerate(self.seqs):
                self.loo[c, seq_of == held] = self._predict(self._fit(c, {held}), c, held)
                for other in self.seqs[i + 1:]:
                    model = self._fit(c, {held, other})
                    self.inner[c, held, other] = self._predict(model, c, other)
                    self.inner[c, other, held] = self._predict(model, c, held)

    def _cols(self, c: int) -> list[int]:
        return [self.columns.index(name) for name in self.cands[c].inputs]

    def signs(self, c: int) -> np.ndarray | None:
        return np.array([SIGNS[n] for n in self.cands[c].inputs]) if self.cands[c].signed else None

    def _fit(self, c: int, without: set[str]) -> Model:
        train = ~np.isin(self.seq_of, list(without)) & np.isnan(self.fixed)
        x = self.x[self.cands[c].rate]
        return fit_logistic(x[train][:, self._cols(c)], self.y[train], self.cands[c].l2,
                            self.signs(c), self.weight[train])

    def _predict(self, model: Model, c: int, seq: str) -> np.ndarray:
        sel = self.seq_of == seq
        p = predict(model, self.x[self.cands[c].rate][sel][:, self._cols(c)])
        return np.where(np.isnan(self.fixed[sel]), p, self.fixed[sel])

    def choose(self, without: str | None = None) -> int:
        """The candidate with the best leave-one-out score over the sequences other than
        ``without`` (None: all of them), computed without ever using ``without``'s frames."""
        losses = []
        for c in range(len(self.cands)):
            if without is None:
                p, y = self.loo[c], self.y
            else:
                scored = [s for s in self.seqs if s != without]
                p = np.concatenate([self.inner[c, without, s] for s in scored])
                y = np.concatenate([self.y[self.seq_of == s] for s in scored])
            losses.append(log_loss(p, y) if self.criterion == "loss" else -auroc(1 - p, y < 0.5))
        return int(np.argmin(losses))

    def nested(self) -> tuple[np.ndarray, np.ndarray, dict[str, Candidate]]:
        """Each sequence scored by the candidate chosen without it, fitted without it, and
        judged at the weak-frame threshold chosen without it (on the inner leave-one-out)."""
        out, thresholds = np.zeros(len(self.y)), np.zeros(len(self.y))
        chosen = {}
        for held in self.seqs:
            c = self.choose(held)
            chosen[held] = self.cands[c]
            out[self.seq_of == held] = self.loo[c, self.seq_of == held]
            scored = [s for s in self.seqs if s != held]
            inner = np.concatenate([self.inner[c, held, s] for s in scored])
            truth = np.concatenate([self.y[self.seq_of == s] for s in scored])
            thresholds[self.seq_of == held] = weak_threshold(inner, truth)
        return out, thresholds, chosen

    def fit_all(self, c: int) -> tuple[Model, np.ndarray]:
        """The candidate fitted on every sequence, and its in-sample estimates."""
        model = self._fit(c, set())
        p = predict(model, self.x[self.cands[c].rate][:, self._cols(c)])
        return model, np.where(np.isnan(self.fixed), p, self.fixed)


def main() -> int:
    from annotator.engines.track_confidence import FEATURES, INPUTS, WEAK_THRESHOLD, vector

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collect", type=Path, help="track the sequences and save the evidence here")
    ap.add_argument("--data", type=Path, nargs="+", help="fit and report from saved evidence (files)")
    ap.add_argument("--seq", help="comma-separated sequence names (default: all nine)")
    ap.add_argument("--modes", default="quality,fast")
    ap.add_argument("--max-inputs", type=int, default=MAX_INPUTS, help="largest input subset tried")
    ap.add_argument("--l2", default=",".join(f"{v:g}" for v in L2S),
                    help="comma-separated L2 penalties tried (per frame, standardised inputs)")
    ap.add_argument("--signed", default="both", choices=("both", "yes", "no"),
                    help="try weights held to their a-priori direction (SIGNS), free ones, or both")
    ap.add_argument("--rates", default=",".join(f"{v:g}" for v in RATES),
                    help="comma-separated colour trend rates tried (1: no averaging)")
    ap.add_argument("--balance", action="store_true", help="every sequence weighs the same in the fit")
    ap.add_argument("--select", choices=("loss", "auroc"), default="loss",
                    help="what the inner leave-one-out minimises: the soft cross-entropy (default) "
                         "or minus the pooled AUROC")
    args = ap.parse_args()
    modes = args.modes.split(",")
    l2s = [float(v) for v in args.l2.split(",")]
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
        rates = [float(v) for v in args.rates.split(",")]
        # Rate 1 (no averaging) is always built: the last stop's model and the usable inputs read it.
        xs = {rate: np.array([vector(f) for f in with_trends(sel, rate)]) for rate in {*rates, 1.0}}
        x = xs[1.0]
        iou = np.array([r["iou"] for r in sel])
        seq_of = np.array([r["sequence"] for r in sel])
        report(f"[{mode}] BEFORE: the old confidence formula, round 1 frames",
               seqs, np.array([old_formula(r["features"]) for r in sel]), iou, seq_of)
        report(f"[{mode}] AS SHIPPED: the stored confidence of each frame (constants at collection time)",
               seqs, np.array([r["confidence"] for r in sel]), iou, seq_of, WEAK_THRESHOLD)
        # Inputs that never vary (fast mode has no colour model) carry no evidence.
        usable = [name for i, name in enumerate(INPUTS) if np.ptp(x[:, i]) > 1e-9]
        signed = {"both": [False, True], "yes": [True], "no": [False]}[args.signed]
        cands = candidates(usable, args.max_inputs, l2s, signed, rates)
        full = Candidate(tuple(n for n in FEATURES if n in usable), L2, False)
        if full not in cands:
            cands.append(full)  # the model of the last stop: every evidence feature, L2 0.01
        print(f"\n[{mode}] {len(cands)} candidates: subsets of up to {args.max_inputs} of "
              f"{', '.join(usable)}, and all of them; L2 {args.l2}; trend rates {args.rates}",
              file=sys.stderr, flush=True)
        selection = Selection(xs, iou, seq_of, fixed_values(sel), list(INPUTS), cands, args.select,
                              args.balance)
        report(f"[{mode}] PLAIN LOO of the last stop's model ({full}): fit on the other "
               f"{len(seqs) - 1}", seqs, selection.loo[cands.index(full)], iou, seq_of)
        nested, thresholds, chosen = selection.nested()
        report(f"[{mode}] NESTED LOO (headline): inputs, L2, trend rate and weak threshold chosen by "
               f"an inner leave-one-out over the other {len(seqs) - 1}, fitted on them, scoring the "
               "held-out one", seqs, nested, iou, seq_of, thresholds)
        for held, cand in chosen.items():
            print(f"  without {held:<15} chose {cand}")
        best = selection.choose()
        weak = weak_threshold(selection.loo[best], iou)
        report(f"[{mode}] PLAIN LOO of the choice made on all {len(seqs)} ({cands[best]}; "
               "optimistic: chosen with these folds)", seqs, selection.loo[best], iou, seq_of, weak)
        model, in_sample = selection.fit_all(best)
        report(f"[{mode}] ALL-{len(seqs)} FIT, in sample (the constants printed below)",
               seqs, in_sample, iou, seq_of, weak)
        mean, scale, weights, bias = model
        fmt = lambda v: "(" + ", ".join(f"{float(a):.4g}" for a in v) + ")"  # noqa: E731
        print(f"\nconstants for track_confidence: TREND_RATE = {cands[best].rate:g}, "
              f"weak threshold {weak:.2f} (on the plain leave-one-out estimates; WEAK_THRESHOLD is "
              "quality's), "
              f"MODELS[{mode!r}]:")
        pad = " " * (len(mode) + 7)
        print(f'    "{mode}": ({cands[best].inputs!r},\n{pad}{fmt(mean)},\n{pad}{fmt(scale)},\n'
              f'{pad}{fmt(weights)}, {bias:.4g}),')
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
