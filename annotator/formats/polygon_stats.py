"""What a polygon export reports: how many masks became polygons, and how far they are from the masks.

A polygon is an approximation (simplified by the tolerance, holes lost under COCO's filled
parts), so the summary says how many masks were written as polygons and the worst IoU between a
polygon's fill and its mask; masks kept as RLE, filled in (``polygon_fallback="approx"``) or
dropped (too small for 3 vertices) are counted and warned about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.formats.common import ExportSummary


@dataclass
class PolygonStats:
    polygons: int = 0  # masks written as polygons (approximated ones included)
    kept_rle: int = 0  # masks a polygon cannot hold, written as RLE (fallback "rle")
    approximated: int = 0  # masks with holes written as their outer contours (fallback "approx")
    dropped: int = 0  # masks too small for a polygon, left out
    worst_iou: float | None = None

    def add(self, mask: np.ndarray, filled: np.ndarray) -> None:
        """One mask written as a polygon whose fill is ``filled`` (both HxW bool)."""
        union = int(np.count_nonzero(mask | filled))
        iou = 1.0 if union == 0 else int(np.count_nonzero(mask & filled)) / union
        self.add_iou(iou)

    def add_iou(self, iou: float) -> None:
        self.polygons += 1
        self.worst_iou = iou if self.worst_iou is None else min(self.worst_iou, iou)

    def report(self, summary: ExportSummary, what: str) -> None:
        summary.polygons = self.polygons
        summary.worst_polygon_iou = None if self.worst_iou is None else round(self.worst_iou, 6)
        if self.kept_rle:
            summary.warnings.append(f"{self.kept_rle} mask(s) with holes kept as RLE, since a {what} polygon "
                                    "cannot hold them (--polygon-fallback approx writes outer contours)")
            summary.extra["rle_fallback"] = self.kept_rle
        if self.approximated:
            summary.warnings.append(f"{self.approximated} mask(s) with holes written as their outer contours "
                                    "(holes filled in)")
            summary.extra["approximated"] = self.approximated
        if self.dropped:
            summary.warnings.append(f"{self.dropped} mask(s) too small for a polygon (fewer than 3 vertices) "
                                    "left out")
