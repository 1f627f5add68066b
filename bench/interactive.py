"""Simulated-user benchmark of the whole annotation loop (SAM 2's offline protocol), driven
through the Session exactly as the app drives it: clicks, locks, propagation, confidence.

    .venv/bin/python bench/interactive.py                          # nine sequences, 8 rounds, --pick iou
    .venv/bin/python bench/interactive.py --pick confidence        # the "next weak frame" user
    .venv/bin/python bench/interactive.py --rounds 3 --seq dog,cows # a cheap iteration
    .venv/bin/python bench/interactive.py --tracker sam2.1-tiny --segmenter sam2.1-tiny  # models
    .venv/bin/python bench/interactive.py --dump run.json          # per-frame data (bench/calibrate.py)
    .venv/bin/python bench/interactive.py --report a.json b.json   # one table from runs split by --seq
    .venv/bin/python bench/interactive.py --oracle-locks --rounds 5  # perfect corrections: the ceiling

Protocol, per sequence (one object; every sequence of bench/davis_sets.py unless --seq):

- Round 1: robot clicks on frame 0 (the clicks lock it), then propagate forward.
- Round k > 1: the unlocked frame with the lowest IoU (``--pick iou``; ties: the earliest) or the
  lowest stored confidence (``--pick confidence``: what "next weak frame" shows a user). The
  robot clicks on it, refining the mask that is there, and the clicks lock it; then propagate
  both ways from it, each direction up to the neighbouring lock.
- Clicks per round: up to ``--clicks`` (3), stopping early when the IoU reaches 0.95 or the
  deepest error left is under 10 px from its region's border (the robot's next click would go
  into a sliver) -- but never on an empty mask while the object is there. The robot is
  sim/click_robot.py (the interior point of the largest error region, by distance transform;
  positive on a miss, negative on an extra).
- ``--oracle-locks``: each round locks the ground-truth mask instead (a perfect correction),
  which measures what the tracker and the fusion can reach when the locks are not the limit.
- J&F after each round: the official DAVIS score over all frames (first and last excluded,
  core/metrics.py), locked frames included as they are.

Report per sequence and the mean: J&F per round, AUC (mean of the per-round J&F = area under
the curve / rounds), the rounds that lowered J&F by more than 0.01, the mean IoU of the locks
the corrections of rounds 2-5 made (``lock@5``), and the time model:
1 s to find the frame + 1.5 s per click + the machine seconds measured (clicks and propagation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from davis_sets import load, sequences  # bench/ is the script's folder

FIND_S = 1.0  # the time model: seconds a user needs to find the frame to correct
CLICK_S = 1.5  # and per click
STOP_IOU = 0.95
STOP_ERROR_PX = 10.0
FrameTable = dict[int, tuple[float, float | None, bool]]  # frame -> (IoU, confidence, locked)


@dataclass
class SequenceRun:
    name: str
    frames: int
    jf: list[float] = field(default_factory=list)  # after each round
    picked: list[int] = field(default_factory=list)  # the frame clicked in each round
    clicks: list[int] = field(default_factory=list)
    machine_s: list[float] = field(default_factory=list)
    # per round: frame -> (IoU, confidence or None, locked); for bench/calibrate.py
    frame_data: list[FrameTable] = field(default_factory=list)

    @property
    def auc(self) -> float:
        return float(np.mean(self.jf)) if self.jf else float("nan")

    @property
    def drops(self) -> int:
        return sum(1 for a, b in zip(self.jf, self.jf[1:]) if b < a - 0.01)

    def lock_iou(self, rounds: int) -> float:
        """Mean IoU of the locks made in rounds 2..``rounds`` (the corrections; round 1 clicks an
        empty frame): with --oracle-locks it is 1, so the gap to it is what the clicks cost."""
        ious = [table[frame][0] for frame, table in zip(self.picked[1:rounds], self.frame_data[1:rounds])]
        return float(np.mean(ious)) if ious else float("nan")

    def user_s(self, rounds: int) -> float:
        k = min(rounds, len(self.jf))
        return FIND_S * k + CLICK_S * sum(self.clicks[:k]) + sum(self.machine_s[:k])


def deepest_error_px(gt: np.ndarray, pred: np.ndarray) -> float:
    """How far inside its region the robot's next click would be (0 when there is no error)."""
    from annotator.sim.click_robot import _border_distance

    return float(max(_border_distance(gt & ~pred).max(), _border_distance(~gt & pred).max()))


def click_round(session: object, oid: int, frame: int, gt: np.ndarray, max_clicks: int) -> int:
    """Robot clicks on ``frame`` through the Session until a stop rule holds; returns the clicks."""
    from annotator.sim.click_robot import mask_iou, next_click

    clicked = np.zeros_like(gt)
    n = 0
    for _ in range(max_clicks):
        pred = session.mask_array(oid, frame)
        pred = np.zeros_like(gt) if pred is None else pred
        # Never stop on an empty mask while the object is there: on a thin object (bmx-trees) the
        # deepest error of a missing object is under 10 px, and a user would not lock "absent".
        near_enough = pred.any() and deepest_error_px(gt, pred) < STOP_ERROR_PX
        if n > 0 and (mask_iou(pred, gt) >= STOP_IOU or near_enough):
            break
        click = next_click(gt, pred, clicked)
        if click is None:
            break
        clicked[click.y, click.x] = True
        session.click(oid, click.x, click.y, click.positive, frame=frame).result()
        n += 1
    session.commit_prompts(oid, frame)
    if n == 0 and not session._project.is_locked(oid, frame):  # already good: the user locks it
        session.toggle_lock(oid, frame)
    return n


def frame_table(session: object, oid: int, gts: list[np.ndarray]) -> FrameTable:
    from annotator.sim.click_robot import mask_iou

    project = session._project
    summary = {f: (score, locked) for f, score, locked, _src, _area in project.track_summary(oid)}
    out = {}
    for f, gt in enumerate(gts):
        pred = session.mask_array(oid, f)
        iou = mask_iou(np.zeros_like(gt) if pred is None else pred, gt)
        score, locked = summary.get(f, (None, False))
        out[f] = (iou, score, bool(locked))
    return out


def pick_frame(table: FrameTable, how: str) -> int | None:
    candidates = [(f, iou, score) for f, (iou, score, locked) in table.items() if not locked]
    if not candidates:
        return None
    if how == "iou":
        return min(candidates, key=lambda c: (c[1], c[0]))[0]
    # A frame with no stored confidence has never been propagated: treat it as unknown (0.5).
    return min(candidates, key=lambda c: (0.5 if c[2] is None else c[2], c[0]))[0]


def run_sequence(seq: str, root: Path, args: argparse.Namespace) -> SequenceRun:
    from annotator.app.session import Session
    from annotator.core.metrics import score_sequence
    from annotator.errors import ProjectError

    frames, gts = load(seq, root)
    folder = root / "JPEGImages" / "480p" / seq
    run = SequenceRun(seq, len(frames))
    with Session(segmenter=args.segmenter, tracker=args.tracker) as session:
        session.open_temporary(folder)  # a throw-away store: nothing is written beside the data
        oid = session.add_object("object").id
        for k in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            if k == 1:
                frame = 0
            else:
                frame = pick_frame(run.frame_data[-1], args.pick)
                if frame is None:
                    break
            most = args.first_clicks if k == 1 else args.clicks
            if args.oracle_locks:  # a perfect correction: the ground truth, as a user's brush would leave it
                session.set_mask(oid, gts[frame], frame=frame)
                if not session._project.is_locked(oid, frame):
                    session.toggle_lock(oid, frame)
                clicks = 0
            else:
                clicks = click_round(session, oid, frame, gts[frame], most)
            direction = "forward" if k == 1 else "both"
            with contextlib.suppress(ProjectError):  # nothing left to propagate: locks on both sides
                session.propagate(direction, object_ids=[oid], start=frame).result()
            run.machine_s.append(time.perf_counter() - t0)
            table = frame_table(session, oid, gts)
            preds = [session.mask_array(oid, f) for f in range(len(frames))]
            preds = [np.zeros_like(g) if p is None else p for p, g in zip(preds, gts)]
            score = score_sequence(gts, preds, name=seq)
            run.jf.append(float(score.jf))
            run.picked.append(frame)
            run.clicks.append(clicks)
            run.frame_data.append(table)
            print(f"  {seq:<15} round {k}: frame {frame:3d}, {clicks} clicks, J&F {score.jf:.3f}, "
                  f"{run.machine_s[-1]:.1f} s", file=sys.stderr, flush=True)
    return run


def print_report(runs: list[SequenceRun], rounds: int, title: str) -> None:
    print(f"\n{title}")
    head = f"{'sequence':<15} " + " ".join(f"{'R' + str(k):>6}" for k in range(1, rounds + 1))
    print(head + f" {'AUC':>6} {'drops':>6} {'lock@5':>7} {'user s@5':>9} {'machine s':>10}")
    for r in runs:
        cells = " ".join(f"{r.jf[k]:6.3f}" if k < len(r.jf) else f"{'':>6}" for k in range(rounds))
        print(f"{r.name:<15} {cells} {r.auc:6.3f} {r.drops:6d} {r.lock_iou(5):7.3f} {r.user_s(5):9.1f} "
              f"{sum(r.machine_s):10.1f}")
    means = []
    for k in range(rounds):
        vals = [r.jf[min(k, len(r.jf) - 1)] for r in runs]  # a finished sequence keeps its last score
        means.append(f"{np.mean(vals):6.3f}")
    print(f"{'mean':<15} {' '.join(means)} {np.mean([r.auc for r in runs]):6.3f} "
          f"{sum(r.drops for r in runs):6d} {np.nanmean([r.lock_iou(5) for r in runs]):7.3f} "
          f"{np.mean([r.user_s(5) for r in runs]):9.1f} "
          f"{np.mean([sum(r.machine_s) for r in runs]):10.1f}")
    if rounds >= 5:
        print(f"J&F@5 over {len(runs)} sequences: "
              f"{np.mean([r.jf[min(4, len(r.jf) - 1)] for r in runs]):.3f}; rounds lowering J&F by "
              f"> 0.01: {sum(r.drops for r in runs)} of {sum(max(0, len(r.jf) - 1) for r in runs)}")


def load_run(entry: dict) -> SequenceRun:
    """A SequenceRun back from a --dump entry."""
    run = SequenceRun(entry["sequence"], len(entry["frames"][0]) if entry["frames"] else 0,
                      jf=entry["jf"], picked=entry["picked"], clicks=entry["clicks"],
                      machine_s=entry["machine_s"])
    run.frame_data = [{int(f): tuple(v) for f, v in table.items()} for table in entry["frames"]]
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seq", help="comma-separated sequence names (default: all nine)")
    ap.add_argument("--pick", choices=("iou", "confidence"), default="iou")
    ap.add_argument("--clicks", type=int, default=3, help="most clicks per correction round")
    ap.add_argument("--first-clicks", type=int, default=3, help="most clicks on frame 0 in round 1")
    ap.add_argument("--oracle-locks", action="store_true",
                    help="each round locks the ground-truth mask instead of clicking: the tracker's "
                         "and fusion's ceiling with perfect corrections")
    ap.add_argument("--segmenter", default="classical")
    ap.add_argument("--tracker", default="classical")
    ap.add_argument("--dump", type=Path, help="write per-round, per-frame IoU/confidence as JSON")
    ap.add_argument("--report", type=Path, nargs="+", help="print one table from earlier --dump files")
    args = ap.parse_args()
    if args.report:
        runs = [load_run(entry) for path in args.report for entry in json.loads(path.read_text())]
        rounds = min(args.rounds, max(len(r.jf) for r in runs))
        print_report(runs, rounds, f"J&F per round from {', '.join(p.name for p in args.report)}")
        return 0
    runs = []
    for seq, root in sequences(args.seq):
        runs.append(run_sequence(seq, root, args))
    locks = ("ground-truth locks (--oracle-locks)" if args.oracle_locks
             else f"up to {args.clicks} clicks a round")
    print_report(runs, args.rounds, f"J&F per round, --pick {args.pick}, segmenter {args.segmenter}, "
                 f"tracker {args.tracker}, {locks}")
    if args.dump:
        args.dump.write_text(json.dumps([{
            "sequence": r.name, "jf": r.jf, "picked": r.picked, "clicks": r.clicks, "machine_s": r.machine_s,
            "frames": [{str(f): v for f, v in table.items()} for table in r.frame_data]} for r in runs]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
