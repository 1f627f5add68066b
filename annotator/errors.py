"""Exceptions that carry the file and the reason, so every front end can show one clear line.

The CLI prints ``str(error)`` and exits 1; the GUI shows it in a dialog and keeps running.
"""

from __future__ import annotations

from pathlib import Path


class AnnotatorError(Exception):
    """Base class: ``path`` names the file involved (if any), ``reason`` says what is wrong."""

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


# --- video -----------------------------------------------------------------------------
class VideoOpenError(AnnotatorError):
    """The video, image or frame folder cannot be opened (missing, not a video, corrupt)."""


class VideoDecodeError(AnnotatorError):
    """A frame that the index lists could not be decoded (truncated or damaged stream)."""


class FrameIndexError(AnnotatorError, IndexError):
    """A frame index outside 0..frame_count-1."""


# --- project store ----------------------------------------------------------------------
class ProjectError(AnnotatorError):
    """Base class for project-file problems."""


class ProjectLockedError(ProjectError):
    """Another process has the project open for writing."""


class ProjectVersionError(ProjectError):
    """The project was written by a newer Annotator (schema version is too new)."""


class ProjectCorruptError(ProjectError):
    """The project file is not a readable Annotator project."""


class VideoMissingError(ProjectError):
    """The project's video is not where it was; relink it."""


class HistoryError(ProjectError):
    """Undo/redo is not possible right now (nothing to undo, or the step is still running)."""


# --- formats and output ------------------------------------------------------------------
class FormatError(AnnotatorError):
    """An import or export file is malformed; the message names the file and the entry."""


class OutputError(AnnotatorError):
    """An output path cannot be written."""


# --- models --------------------------------------------------------------------------------
class WeightsMissingError(AnnotatorError):
    """A model was asked for by name but its weights are not installed."""

    def __init__(self, model: str, reason: str | None = None, path: str | Path | None = None) -> None:
        self.model = model
        super().__init__(
            reason or f"model '{model}' is not installed; run: annotator models download {model}", path
        )


class DownloadError(AnnotatorError):
    """A download failed (network, disk, or a checksum mismatch)."""


class DeviceError(AnnotatorError):
    """A compute device was asked for but is not available."""


class CancelledError(AnnotatorError):
    """A job was cancelled; its partial results are kept."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
