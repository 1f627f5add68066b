"""`annotator models ...`: list, download, verify and delete model weights, and show which
engines ``--model auto`` would use on this machine and why."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from annotator.cli.output import message, print_json


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list, download and check model weights")
    commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="every model the app can use, and which are installed")
    listing.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    listing.set_defaults(handler=run_list)

    fetch = commands.add_parser("download", help="download a model (Ctrl+C cancels; a rerun resumes)")
    fetch.add_argument("name", help="model name, as in `annotator models list`")
    fetch.add_argument("--force", action="store_true", help="download again even if installed")
    fetch.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    fetch.set_defaults(handler=run_download)

    check = commands.add_parser("verify", help="check installed files against their sha256")
    check.add_argument("name", nargs="?", help="one model (default: every installed model)")
    check.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    check.set_defaults(handler=run_verify)

    remove = commands.add_parser("delete", help="delete a model's files")
    remove.add_argument("name")
    remove.set_defaults(handler=run_delete)

    status = commands.add_parser("status", help="the engines `--model auto` picks on this device, and why")
    status.add_argument("--device", help="cuda, mps or cpu (default: $ANNOTATOR_DEVICE, else the best found)")
    status.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    status.set_defaults(handler=run_status)


def run_list(args: argparse.Namespace) -> int:
    from annotator.engines import weights

    rows = weights.list_models()
    if args.json:
        print_json(rows)
        return 0
    header = ("NAME", "TASK", "SIZE", "INSTALLED", "LICENSE", "SOURCE")
    table = [header] + [
        (r["name"], r["task"], _human_size(r["size"]), "yes" if r["installed"] else "-", r["license"],
         r["source"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    from annotator import paths

    message(f"models folder: {paths.models_dir()} (set ANNOTATOR_MODELS_DIR to move it)")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from annotator.engines import weights

    spec = _spec_or_usage(args.name)
    if spec is None:
        return 2
    found = weights.installed_path(args.name)
    if found is not None and not args.force:
        message(f"{args.name} is already installed at {found}")
        _print_installed(args, found)
        return 0
    message(f"downloading {args.name} ({_human_size(spec.size_bytes)}) from {spec.source}")
    path = _download_with_bar(args.name, spec.size_bytes)
    if path is None:
        return 130
    message(f"{args.name} installed at {path}")
    _print_installed(args, path)
    return 0


def _download_with_bar(name: str, size_hint: int) -> Any:
    """Download on a worker thread so that Ctrl+C in the main thread can cancel it cleanly
    (the partial file is kept for a resume). Returns the path, or None when cancelled."""
    from tqdm import tqdm

    from annotator.engines import weights
    from annotator.errors import CancelledError

    cancel = threading.Event()
    outcome: dict[str, Any] = {}
    bar = tqdm(total=size_hint, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
               file=sys.stderr, disable=None, leave=False)

    def on_progress(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    finished = threading.Event()

    def work() -> None:
        try:
            outcome["path"] = weights.download(name, progress=on_progress, cancel=cancel, force=True)
        except BaseException as exc:  # handed to the main thread below
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=work, name=f"download:{name}", daemon=True).start()
    # Wait on an Event, not Thread.join: a join interrupted by Ctrl+C can report the thread
    # as finished while it still runs (CPython 3.11).
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        cancel.set()  # the download stops at its next read and keeps the .part
        finished.wait()
    finally:
        bar.close()
    error = outcome.get("error")
    if isinstance(error, CancelledError) or (cancel.is_set() and error is not None):
        message(f"annotator: {error}. Resume with: annotator models download {name}")
        return None
    if error is not None:
        raise error
    return outcome["path"]


def _print_installed(args: argparse.Namespace, path: Any) -> None:
    if args.json:
        print_json({"name": args.name, "path": str(path), "installed": True})
    else:
        print(path)


def run_verify(args: argparse.Namespace) -> int:
    from annotator.engines import weights

    if args.name is not None:
        if _spec_or_usage(args.name) is None:
            return 2
        names = [args.name]
    else:
        names = [r["name"] for r in weights.list_models() if r["installed"]]
        if not names:
            message("no models installed; nothing to verify")
    results = []
    for name in names:
        ok, detail = weights.verify(name)
        results.append({"name": name, "ok": ok, "message": detail})
        if not args.json:
            print(f"{name}: {'OK' if ok else 'FAILED'} ({detail})")
    if args.json:
        print_json(results)
    return 0 if all(r["ok"] for r in results) else 1


def run_delete(args: argparse.Namespace) -> int:
    from annotator.engines import weights

    if _spec_or_usage(args.name) is None:
        return 2
    path = weights.installed_path(args.name)
    weights.delete(args.name)
    if path is None:
        message(f"{args.name} was not installed (partial downloads, if any, were removed)")
    else:
        message(f"deleted {args.name} ({path})")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from annotator import paths
    from annotator.engines import weights
    from annotator.engines.device import device_label, pick_device
    from annotator.errors import WeightsMissingError

    device = pick_device(args.device)
    engines: dict[str, dict[str, Any]] = {}
    for task in weights.TASKS:
        try:
            model, reason = weights.choose(task, "auto", device)
        except WeightsMissingError as exc:
            model, reason = None, exc.reason
        engines[task] = {"model": model, "reason": reason}
    document = {"device": device, "device_label": device_label(device),
                "models_dir": str(paths.models_dir()), "engines": engines}
    if args.json:
        print_json(document)
        return 0
    print(f"device      {document['device_label']}")
    print(f"models dir  {document['models_dir']}")
    for task, entry in engines.items():
        print(f"{task:<11} {entry['model'] or 'none':<18} {entry['reason']}")
    return 0


def _spec_or_usage(name: str) -> Any:
    from annotator.engines import weights

    try:
        return weights.get_spec(name)
    except ValueError as exc:
        print(f"annotator models: error: {exc}", file=sys.stderr)
        return None


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
