"""`annotator batch`: run a manifest of videos through init -> propagate -> describe -> export.

    annotator batch MANIFEST.json [--local N | --ray ADDRESS] [--out DIR] [--retries N]
                    [--force] [--dry-run] [--json]

Locally (the default) each video runs in a process of its own, N at a time. ``--ray auto``
(the cluster this node is in), ``--ray HOST:PORT``, ``--ray ray://HOST:10001`` or ``--ray
local`` runs one Ray task per video. Videos already done (an "ok" result.json for the same
entry, outputs present) are skipped, so a stopped run picks up where it was. Progress and
one line per finished video go to stderr; with --json, stdout holds one summary. The exit
code is 0 when every video succeeded, 1 when any failed. docs/batch.md has the manifest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from annotator.cli.output import message, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch", help="annotate many videos from a manifest, locally or on a Ray cluster",
        description="Run every video of MANIFEST (JSON, see docs/batch.md): initial masks or prompts, "
        "propagation, describers and exports. Results go to OUT/<name>/ (project, export/, result.json).")
    p.add_argument("manifest", type=Path, help="manifest JSON file")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", type=int, metavar="N", default=None,
                       help="run N videos at once on this machine (default: 1 with GPU trackers, else half "
                       "the cores; 0 runs them in this process, for debugging)")
    where.add_argument("--ray", metavar="ADDRESS", default=None,
                       help="run on Ray: auto (this node's cluster), HOST:PORT, ray://HOST:PORT, or local "
                       "(start one here); needs annotator[ray]")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: the manifest's \"out\", else MANIFEST-out beside it)")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="tries again for a video whose worker died or ran out of memory (default 1; "
                   "bad input is never retried)")
    p.add_argument("--force", action="store_true", help="redo videos that are already done")
    p.add_argument("--dry-run", action="store_true", help="check the manifest and list what would run")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(handler=run_batch_command, parser=p)


def run_batch_command(args: argparse.Namespace) -> int:
    from annotator.batch.manifest import load_manifest
    from annotator.batch.runner import default_out, pending_videos, run_batch

    if args.local is not None and args.local < 0:
        args.parser.error("--local takes a number of workers >= 0")
    if args.retries < 0:
        args.parser.error("--retries must be >= 0")
    manifest = load_manifest(args.manifest)
    out = (args.out or default_out(manifest)).resolve()
    todo, done = pending_videos(manifest, out, args.force)
    if args.dry_run:
        return _dry_run(args, manifest, out, todo, done)
    if done:
        message(f"{len(done)} video(s) already done in {out}, skipped (--force redoes them)")
    backend = _backend(args, todo)
    progress = _Progress(len(todo), backend.name)
    try:
        report = run_batch(manifest, out, backend, retries=args.retries, force=args.force, on_event=progress)
    finally:
        progress.close()
    if args.json:
        print_json(report.to_json())
    else:
        message(f"{report.ok} ok, {report.failed} failed, {report.skipped} skipped in {report.seconds:.1f} s "
                f"-> {out}")
        for video in report.videos:
            if video.status == "failed":
                message(f"  failed: {video.name}: {video.error} (see {video.result})")
    return 0 if report.succeeded else 1


def _backend(args: argparse.Namespace, todo: list[Any]) -> Any:
    if args.ray is not None:
        from annotator.batch.ray_runner import RayBackend

        message(f"connecting to Ray ({args.ray}) ...")
        return RayBackend(args.ray)
    from annotator.batch.runner import LocalBackend, default_workers

    workers = args.local if args.local is not None else default_workers(todo)
    if todo:
        how = f"{workers} at a time" if workers else "one by one in this process"
        message(f"running {len(todo)} video(s) locally, {how}")
    return LocalBackend(workers)


def _dry_run(args: argparse.Namespace, manifest: Any, out: Path, todo: list[Any], done: list[Any]) -> int:
    pending = {job.name for job in todo}
    rows = [{"name": job.name, "video": job.video, "status": "todo" if job.name in pending else "done",
             "init": job.init.kind, "tracker": job.tracker, "exports": [e.format for e in job.exports],
             "describe": sorted(job.describe), "num_gpus": job.num_gpus} for job in manifest.videos]
    if args.json:
        print_json({"manifest": manifest.path, "out": str(out), "videos": rows})
        return 0
    message(f"manifest OK: {len(rows)} video(s), {len(todo)} to run, {len(done)} done; output: {out}")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        describe = f"  describe={','.join(r['describe'])}" if r["describe"] else ""
        print(f"{r['name']:<{width}}  {r['status']:<4}  {r['init']:<7}  {r['tracker']:<14}  "
              f"{','.join(r['exports'])}{describe}")
    return 0


class _Progress:
    """A bar on stderr with ok / failed / retry counts, and one line per finished video."""

    def __init__(self, total: int, backend: str) -> None:
        from tqdm import tqdm

        self.counts = {"ok": 0, "failed": 0, "retry": 0}
        self._bar = tqdm(total=total, desc=f"batch ({backend})", unit="video", file=sys.stderr,
                         disable=None, leave=False, dynamic_ncols=True)

    def __call__(self, kind: str, job: Any, result: dict[str, Any] | None) -> None:
        if kind not in self.counts:
            return
        self.counts[kind] += 1
        if kind in ("ok", "failed"):
            self._bar.update(1)
        self._bar.set_postfix(self.counts, refresh=True)
        self._bar.write(_line(kind, job, result or {}), file=sys.stderr)

    def close(self) -> None:
        self._bar.close()


def _line(kind: str, job: Any, result: dict[str, Any]) -> str:
    error = result.get("error") or {}
    if kind == "ok":
        frames = (result.get("frames") or {}).get("total")
        seconds = (result.get("timings") or {}).get("total_s")
        extra = f" ({frames} frames, {seconds} s)" if frames is not None else ""
        return f"ok      {job.name}{extra}"
    if kind == "retry":
        return f"retry   {job.name}: {error.get('type')}: {error.get('message')}"
    return f"FAILED  {job.name}: {error.get('type')}: {error.get('message')}"
