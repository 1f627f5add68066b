"""The value types and helpers a front end (the GUI) uses beside the Session, named in one
place so that it imports annotator.app only: jobs, the store's frozen records, export formats
and options, and small pure helpers. Nothing here writes to a project.
"""

from __future__ import annotations

import numpy as np

from annotator.app.describe.runs import parse_labels
from annotator.app.engines import ModelStatus
from annotator.app.views import ProjectView, TrackPoint
from annotator.core import masks as _rle
from annotator.core.jobs import Job, JobState, Progress
from annotator.core.memory import current_rss_mb
from annotator.core.records import Category, Insight, MaskRecord, ObjectInfo
from annotator.formats import FORMATS, FormatSpec
from annotator.formats.options import ExportOptions

__all__ = [
    "FORMATS", "Category", "ExportOptions", "FormatSpec", "Insight", "Job", "JobState", "MaskRecord",
    "ModelStatus", "ObjectInfo", "ProjectView", "Progress", "TrackPoint", "current_rss_mb", "decode_mask",
    "parse_labels",
]


def decode_mask(record: MaskRecord) -> np.ndarray:
    """The record's mask as an HxW bool array."""
    return _rle.decode(record.rle)
