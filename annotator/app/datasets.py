"""Dataset jobs of the Session: export the open project (with others, as one dataset) and
import an annotation file into a new project. Both run on the I/O lane and report progress
by phase (the message is the phase's label)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotator.core.jobs import Job, JobContext, Workers
from annotator.formats.options import ExportOptions


def _progress(ctx: JobContext) -> Any:
    return lambda done, total, message="": ctx.report(done, total, message)


def export_job(workers: Workers, projects: Sequence[Path], format_name: str, out: Path,
               options: ExportOptions | None, split: dict[str, float] | None, seed: int,
               make_folder: bool) -> Job[Any]:
    """Export ``projects`` (paths: each is opened read-only again on the I/O lane, so no SQLite
    connection crosses threads and the GUI keeps its writer lock) as one dataset."""
    from annotator.formats import export_projects

    def work(ctx: JobContext) -> Any:
        if make_folder:
            out.parent.mkdir(parents=True, exist_ok=True)
        return export_projects(list(projects), format_name, out, options, split=split, seed=seed,
                               progress=_progress(ctx), cancel=ctx)

    return workers.submit(Workers.IO_LANE, f"export {format_name}", work)


def import_job(workers: Workers, path: Path, format_name: str, source: Path, project: Path,
               **format_options: Any) -> Job[Any]:
    """Read ``path`` in ``format_name`` into a new project file over the video ``source``."""
    from annotator.formats import import_into_project

    return workers.submit(Workers.IO_LANE, f"import {format_name}", lambda ctx: import_into_project(
        path, format_name, source, project, progress=_progress(ctx), cancel=ctx, **format_options))
