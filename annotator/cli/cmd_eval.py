"""`annotator eval`: score predictions against ground truth with the official protocols.

    annotator eval --gt GT_DIR --pred PRED_DIR [--sequences A,B] [--json]      DAVIS J / F / J&F
    annotator eval --format ytvis --gt GT.json --pred RESULTS.json [--json]   YouTube-VIS AP / AR
"""

from __future__ import annotations

import argparse

from annotator.cli.output import message, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score predictions against ground truth (DAVIS J, F, J&F; YouTube-VIS AP)",
        description="DAVIS (the default): evaluate DAVIS-layout folders (one subfolder of PNG masks per "
        "sequence; DAVIS-2016 grayscale 0/255 or DAVIS-2017 palette) with the official semi-supervised "
        "protocol: the first and last frames are skipped, objects are averaged. YouTube-VIS "
        "(--format ytvis): a results JSON against a ground-truth JSON, as the official YTVOSeval "
        "(segm) scores it: AP, AP50, AP75, AR1, AR10.",
    )
    p.add_argument("--format", default="davis", choices=("davis", "ytvis"),
                   help="davis: PNG folders (default); ytvis: YouTube-VIS JSON files")
    p.add_argument("--gt", required=True, metavar="GT",
                   help="ground-truth folder (or a DAVIS root holding Annotations/480p); ytvis: GT.json")
    p.add_argument("--pred", required=True, metavar="PRED",
                   help="predicted masks, same layout; ytvis: the results JSON")
    p.add_argument("--sequences", type=_sequence_list, default=None, metavar="A,B",
                   help="comma-separated sequence names (default: every sequence in GT_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(handler=run_eval, parser=p)


def _sequence_list(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one sequence name")
    return names


def run_eval(args: argparse.Namespace) -> int:
    from annotator.core.metrics import evaluate_folders

    if args.format == "ytvis":
        return run_eval_ytvis(args)
    result = evaluate_folders(args.gt, args.pred, args.sequences)
    doc = result.to_json()
    if args.json:
        print_json(doc)
        return 0
    print(format_table(doc))
    message(f"{len(doc['per_sequence'])} sequence(s) evaluated")
    return 0


YTVIS_KEYS = ("AP", "AP50", "AP75", "AR1", "AR10")


def run_eval_ytvis(args: argparse.Namespace) -> int:
    from annotator.core.vis_metrics import evaluate_ytvis

    if args.sequences:
        args.parser.error("--sequences applies to DAVIS folders, not to --format ytvis")
    result = evaluate_ytvis(args.gt, args.pred)
    doc = {key: round(float(result.stats[key]), 6) for key in YTVIS_KEYS}
    doc["stats"] = result.to_json()["stats"]  # all twelve official numbers, -1 where no GT falls
    if args.json:
        print_json(doc)
        return 0
    print("\n".join(result.summary_lines()))
    message(f"{len(result.video_iou)} video(s) evaluated")
    return 0


def format_table(doc: dict) -> str:
    """A readable table: one row per object, then the global means."""
    rows = [("sequence", "object", "J&F", "J", "F")]
    for name, seq in doc["per_sequence"].items():
        for oid, obj in seq["objects"].items():
            jf = _mean2(obj["J"], obj["F"])
            rows.append((name, oid, _fmt(jf), _fmt(obj["J"]), _fmt(obj["F"])))
        if len(seq["objects"]) > 1:
            rows.append((name, "mean", _fmt(seq["J&F"]), _fmt(seq["J"]), _fmt(seq["F"])))
    rows.append(("global", "", _fmt(doc["J&F"]), _fmt(doc["J"]), _fmt(doc["F"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for k, row in enumerate(rows):
        cells = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        lines.append("  ".join(cells))
        if k == 0 or k == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    recall = f"J-Recall {_fmt(doc['J-Recall'])}  J-Decay {_fmt(doc['J-Decay'])}  " \
             f"F-Recall {_fmt(doc['F-Recall'])}  F-Decay {_fmt(doc['F-Decay'])}"
    return "\n".join(lines + [recall])


def _mean2(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (a + b) / 2


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
