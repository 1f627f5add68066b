"""Annotator: label video with click-to-segment, mask tracking and dataset export."""

__version__ = "0.1.0"
