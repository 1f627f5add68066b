"""Dataset formats: one module per format (export + import), found through this registry.

    from annotator.formats import export_project, import_into_project, FORMATS
    export_project("clip.annot", "coco", "out/coco.json", ExportOptions(skip_empty=True))
    import_into_project("ann.json", "coco", source="clip.mp4", project="new.annot")

Every exporter has the signature ``export(project, out, options=None, progress=None,
cancel=None) -> ExportSummary`` (``project``: an open ``Project`` or a path, which is opened
read-only so the GUI can keep writing), and every importer ``import_(path, source, project_path,
*, video=None, progress=None, cancel=None, **format_options) -> ImportSummary``. ``progress`` is
``callable(done, total | None, message)``; ``cancel`` a ``threading.Event`` or a
``core.jobs.JobContext``. Modules load lazily, so ``import annotator.formats`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.formats.common import ExportSummary, ImportSummary, ProgressFn
from annotator.formats.options import ExportOptions

__all__ = ["FORMATS", "ExportOptions", "ExportSummary", "FormatSpec", "ImportSummary", "export_project",
           "export_projects", "get_format", "import_into_project"]


@dataclass(frozen=True)
class FormatSpec:
    name: str
    title: str
    module: str
    exporter: str | None
    importer: str | None
    output: str  # "file" or "folder": what --out names
    multi_video: bool = False  # several projects merge into one output (datasets)
    extension: str = ""
    # Many videos written by the format's own function (projects, out, options, split=, seed=,
    # progress=, cancel=); None: COCO / YouTube-VIS through dataset.export_dataset.
    dataset_exporter: str | None = None

    def export_fn(self) -> Callable[..., ExportSummary]:
        if self.exporter is None:
            raise ValueError(f"format {self.name!r} cannot be exported")
        return getattr(importlib.import_module(self.module), self.exporter)

    def dataset_fn(self) -> Callable[..., ExportSummary]:
        if self.dataset_exporter is None:
            from annotator.formats.dataset import export_dataset

            fmt = self.name
            return lambda projects, out, options, **kw: export_dataset(projects, fmt, out, options, **kw)
        return getattr(importlib.import_module(self.module), self.dataset_exporter)

    def import_fn(self) -> Callable[..., ImportSummary]:
        if self.importer is None:
            raise ValueError(f"format {self.name!r} cannot be imported")
        return getattr(importlib.import_module(self.module), self.importer)


FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in (
    FormatSpec("coco", "COCO instances JSON", "annotator.formats.coco", "export_coco", "import_coco",
               "file", multi_video=True, extension=".json"),
    FormatSpec("ytvis", "YouTube-VIS / OVIS JSON", "annotator.formats.ytvis", "export_ytvis", "import_ytvis",
               "file", multi_video=True, extension=".json"),
    FormatSpec("davis", "DAVIS label PNGs", "annotator.formats.davis", "export_davis", "import_davis",
               "folder"),
    FormatSpec("mot", "MOTChallenge boxes (gt.txt)", "annotator.formats.mot", "export_mot", "import_mot",
               "folder", multi_video=True, dataset_exporter="export_mot_dataset"),
    FormatSpec("mots", "MOTS masks (txt)", "annotator.formats.mot", "export_mots", "import_mots", "folder",
               multi_video=True, dataset_exporter="export_mots_dataset"),
    FormatSpec("yolo", "YOLO segmentation (Ultralytics)", "annotator.formats.yolo", "export_yolo",
               "import_yolo", "folder", multi_video=True, dataset_exporter="export_yolo_dataset"),
    FormatSpec("overlay", "mask overlay video (mp4)", "annotator.formats.overlay", "export_overlay", None,
               "file", extension=".mp4"),
)}


def get_format(name: str) -> FormatSpec:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(FORMATS)}") from None


def export_project(project: Any, fmt: str, out: str | Path, options: ExportOptions | None = None,
                   progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    """Export one project (an open Project or a path) in ``fmt``."""
    spec = get_format(fmt)
    if options is not None:
        options.check_format(fmt)
    return spec.export_fn()(project, out, options, progress=progress, cancel=cancel)


def export_projects(projects: Sequence[Any], fmt: str, out: str | Path, options: ExportOptions | None = None,
                    split: dict[str, float] | None = None, seed: int = 0, progress: ProgressFn | None = None,
                    cancel: Any = None) -> ExportSummary:
    """Export several projects as one dataset, optionally split by video: one COCO / YouTube-VIS
    file (or one per split), MOT / MOTS sequences (TrackEval's layout with ``options.seqmap``), or
    one YOLO dataset (train / val by video)."""
    if len(projects) == 1 and not split:
        return export_project(projects[0], fmt, out, options, progress, cancel)
    spec = get_format(fmt)
    if not spec.multi_video:
        raise ValueError(f"{fmt} holds one video; several projects (or --split) need coco, ytvis, mot, mots "
                         "or yolo")
    if options is not None:
        options.check_format(fmt)
    return spec.dataset_fn()(projects, out, options, split=split, seed=seed, progress=progress, cancel=cancel)


def import_into_project(path: str | Path, fmt: str, source: str | Path, project: str | Path,
                        progress: ProgressFn | None = None, cancel: Any = None,
                        **format_options: Any) -> ImportSummary:
    """Import an annotation file/folder in ``fmt`` into a new project over ``source``.

    ``format_options``: ``video`` (pick one video of a multi-video file, all formats) and
    ``group_by`` (COCO: the annotation key that names the object).
    """
    options = {k: v for k, v in format_options.items() if v is not None}
    if "group_by" in options and fmt != "coco":
        raise ValueError("--group-by applies to COCO imports only")
    return get_format(fmt).import_fn()(path, source, project, progress=progress, cancel=cancel, **options)
