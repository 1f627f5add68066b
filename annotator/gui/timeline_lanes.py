"""One timeline lane per object: its per-frame data (numpy) and the pyqtgraph items drawing it.

Data is kept as arrays over all frames, so a propagation writing one frame at a time costs
one row read and an O(frames) numpy pass per redraw, never a re-read of the whole track.
The confidence strip is rendered at screen resolution with *min* pooling: zoomed out over
10,000 frames, one weak frame still shows as a red pixel instead of vanishing between two
green ones.

Lane geometry (view units; y grows downward, lane i spans [i, i + 1]):

    i + 0.14 .. 0.52   presence bar in the object's colour; locked runs as a white line with a
                       diamond at each end (a lone locked frame: one diamond)
    i + 0.31 .. 0.35   a thin grey bar where the object is locked absent (empty mask)
    i + 0.58 .. 0.76   confidence strip: red (weak) .. green (sure); your edits are green
    i + 0.81 .. 0.89   review marks
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen

from annotator.gui import style
from annotator.gui.widgets_common import confidence_rgb

SOURCES = ("user", "tracked", "imported", "detected")
_USER, _IMPORTED = SOURCES.index("user"), SOURCES.index("imported")
NONE, PRESENT, EMPTY = 0, 1, 2

PRESENCE = (0.14, 0.52)
ABSENT = (0.31, 0.35)
STRIP = (0.58, 0.76)
REVIEW = (0.81, 0.89)
LOCK_Y = 0.33
PROMPT_Y = 0.05
REVIEW_COLOR = "#5fb3c9"


class LaneData:
    """Everything the lane shows for one object, one entry per frame."""

    def __init__(self, frame_count: int) -> None:
        n = max(0, int(frame_count))
        self.frame_count = n
        self.state = np.zeros(n, np.uint8)
        self.score = np.full(n, np.nan, np.float32)  # raw score (NaN: none stored)
        self.source = np.zeros(n, np.uint8)  # index into SOURCES
        self.locked = np.zeros(n, bool)
        self.reviewed = np.zeros(n, bool)
        self.area = np.zeros(n, np.int64)

    # --- loading ------------------------------------------------------------------------------
    def load_summary(self, rows: list[tuple[int, float | None, bool, str, int]]) -> None:
        """Replace everything from ``Project.track_summary`` rows."""
        self.state[:] = NONE
        self.score[:] = np.nan
        self.source[:] = 0
        self.locked[:] = False
        self.area[:] = 0
        if not rows:
            return
        columns = list(zip(*rows))
        frames = np.asarray(columns[0], np.int64)
        keep = (frames >= 0) & (frames < self.frame_count)
        frames = frames[keep]
        scores = np.asarray([np.nan if s is None else s for s in columns[1]], np.float32)[keep]
        locked = np.asarray(columns[2], bool)[keep]
        codes = {name: i for i, name in enumerate(SOURCES)}
        source = np.asarray([codes.get(s, _IMPORTED) for s in columns[3]], np.uint8)[keep]
        area = np.asarray(columns[4], np.int64)[keep]
        self.state[frames] = np.where(area > 0, PRESENT, EMPTY)
        self.score[frames] = scores
        self.locked[frames] = locked
        self.source[frames] = source
        self.area[frames] = area

    def set_frame(self, frame: int, record: Any | None) -> None:
        """One frame from a MaskRecord (None: no mask there any more)."""
        if not 0 <= frame < self.frame_count:
            return
        if record is None:
            self.state[frame] = NONE
            self.score[frame] = np.nan
            self.locked[frame] = False
            self.area[frame] = 0
            return
        self.state[frame] = PRESENT if record.area > 0 else EMPTY
        self.score[frame] = np.nan if record.score is None else record.score
        self.locked[frame] = bool(record.locked)
        self.source[frame] = _source_code(record.source)
        self.area[frame] = int(record.area)

    def set_reviewed(self, frames: list[int]) -> None:
        self.reviewed[:] = False
        idx = np.asarray([f for f in frames if 0 <= f < self.frame_count], np.int64)
        self.reviewed[idx] = True

    # --- derived ----------------------------------------------------------------------------------
    def effective_score(self, first: int = 0, last: int | None = None) -> np.ndarray:
        """Per frame (first..last): +inf without a mask, 1 for your edits and locked frames, else
        the tracker's score."""
        span = slice(first, self.frame_count if last is None else last + 1)
        score = self.score[span]
        eff = np.where(np.isnan(score), 1.0, score).astype(np.float32)
        eff[(self.source[span] == _USER) | self.locked[span]] = 1.0
        eff[self.state[span] != PRESENT] = np.inf
        return eff

    def strip_rgba(self, first: int, last: int, width_px: int) -> np.ndarray:
        """The confidence strip for frames first..last as a (1, W, 4) image, min-pooled per pixel."""
        eff = self.effective_score(first, last)
        if eff.size == 0:
            return np.zeros((1, 1, 4), np.uint8)
        width_px = max(1, int(width_px))
        if eff.size > width_px:
            edges = np.unique(np.linspace(0, eff.size, width_px + 1).astype(np.int64)[:-1])
            eff = np.minimum.reduceat(eff, edges)
        rgba = np.zeros((1, eff.size, 4), np.uint8)
        has = np.isfinite(eff)
        rgba[0, :, :3] = confidence_rgb(np.where(has, eff, 0.0))
        rgba[0, :, 3] = np.where(has, 235, 0)
        return rgba

    def describe(self, frame: int) -> str:
        """A tooltip line for one frame."""
        if not 0 <= frame < self.frame_count:
            return ""
        state = self.state[frame]
        if state == NONE:
            text = "no mask"
        elif state == EMPTY:
            text = "absent (empty mask)"
        else:
            source = SOURCES[int(self.source[frame])]
            text = {"user": "your edit", "tracked": "tracked", "imported": "imported",
                    "detected": "detected (not checked)"}[source]
            if source == "tracked" and not np.isnan(self.score[frame]):
                text += f" · confidence {float(self.score[frame]):.2f}"
            text += f" · {int(self.area[frame]):,} px"
        if self.locked[frame]:
            text += " · locked"
        if self.reviewed[frame]:
            text += " · reviewed"
        return text


def runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the runs of True in a bool array."""
    if flags.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    starts, stops = change[0::2], change[1::2]
    return starts, stops - starts


class LaneItems:
    """The pyqtgraph items of one lane, added to ``view`` (a ViewBox)."""

    def __init__(self, view: pg.ViewBox, color: str) -> None:
        self.view = view
        self.row = 0
        self.color = color
        no_pen = pg.mkPen(None)
        self.presence = pg.BarGraphItem(x0=[], width=[], y0=0, height=0, pen=no_pen, brush=color)
        self.absent = pg.BarGraphItem(x0=[], width=[], y0=0, height=0, pen=no_pen, brush=style.TEXT_FAINT)
        self.review = pg.BarGraphItem(x0=[], width=[], y0=0, height=0, pen=no_pen, brush=REVIEW_COLOR)
        self.lockbar = pg.BarGraphItem(x0=[], width=[], y0=0, height=0, pen=no_pen, brush="#f2f3f5")
        self.strip = pg.ImageItem(axisOrder="row-major")
        self.locks = pg.ScatterPlotItem(symbol="d", size=8, pen=pg.mkPen("#101114", width=1.2),
                                        brush=pg.mkBrush("#f2f3f5"), pxMode=True)
        self.prompt = pg.ScatterPlotItem(symbol="t", size=9, pen=pg.mkPen(None),
                                         brush=pg.mkBrush(style.ACCENT), pxMode=True)
        self._items = (self.presence, self.absent, self.strip, self.review, self.lockbar, self.locks,
                       self.prompt)
        for z, item in enumerate(self._items):
            item.setZValue(10 + z)
            view.addItem(item, ignoreBounds=True)
        self._run_starts = np.zeros(0)
        self._run_lengths = np.zeros(0)
        self._absent_runs: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._review_runs: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._lock_runs: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._min_width = 1.0

    def remove(self) -> None:
        for item in self._items:
            self.view.removeItem(item)

    def set_color(self, color: str) -> None:
        if color != self.color:
            self.color = color
            self.presence.setOpts(brush=color)

    def refresh(self, data: LaneData, row: int, min_width: float) -> None:
        """Recompute the runs and markers from ``data`` for lane ``row``."""
        self.row = row
        self._min_width = min_width
        self._run_starts, self._run_lengths = runs(data.state == PRESENT)
        self._absent_runs = runs(data.state == EMPTY)
        self._review_runs = runs(data.reviewed)
        starts, lengths = runs(data.locked)
        long = lengths > 1
        self._lock_runs = (starts[long], lengths[long] - 1)
        ends = np.unique(np.concatenate((starts, starts + lengths - 1))).astype(float)
        self.locks.setData(x=ends, y=np.full(ends.size, row + LOCK_Y))
        self._place_bars()

    def set_min_width(self, min_width: float) -> None:
        """Frames narrower than a pixel still draw one pixel wide (zoomed far out)."""
        if abs(min_width - self._min_width) > 1e-6:
            self._min_width = min_width
            self._place_bars()

    def _place_bars(self) -> None:
        row, w = self.row, self._min_width
        for item, (starts, lengths), (top, bottom) in (
            (self.presence, (self._run_starts, self._run_lengths), PRESENCE),
            (self.absent, self._absent_runs, ABSENT),
            (self.review, self._review_runs, REVIEW),
        ):
            item.setOpts(x0=starts - 0.5, width=np.maximum(lengths, w), y0=row + top, height=bottom - top)
        starts, lengths = self._lock_runs  # from the first locked frame's centre to the last's
        self.lockbar.setOpts(x0=starts, width=lengths, y0=row + LOCK_Y - 0.025, height=0.05)

    def render_strip(self, data: LaneData, first: int, last: int, width_px: int) -> None:
        if last < first:
            self.strip.clear()
            return
        image = data.strip_rgba(first, last, width_px)
        self.strip.setImage(image, autoLevels=False, levels=(0, 255))
        top, bottom = STRIP
        self.strip.setRect(QRectF(first - 0.5, self.row + top, last - first + 1, bottom - top))

    def set_prompt_frame(self, frame: int | None) -> None:
        if frame is None:
            self.prompt.setData(x=[], y=[])
        else:
            self.prompt.setData(x=[float(frame)], y=[self.row + PROMPT_Y + 0.04])


class LaneAxis(pg.AxisItem):
    """The left axis: each lane's name after a dot in the object's colour."""

    def __init__(self) -> None:
        super().__init__("left")
        self.labels: list[tuple[str, str, bool]] = []  # (name, colour, selected) per lane
        self.first_row = 0  # lanes above it are scrolled away (under the header band)
        self.setWidth(132)
        self.setStyle(tickLength=0, showValues=True, tickTextOffset=6)
        self.setPen(pg.mkPen(style.BORDER))
        self.setTextPen(pg.mkPen(style.TEXT))

    def set_labels(self, labels: list[tuple[str, str, bool]]) -> None:
        """(name, colour, selected) per lane, top to bottom. The ticks carry only the lane number:
        pyqtgraph drops tick texts that do not fit, so the names are drawn here, elided."""
        self.labels = labels
        self.setTicks([[(i + 0.5, str(i)) for i in range(len(labels))], []])
        self.picture = None
        self.update()

    def drawPicture(self, p: QPainter, axisSpec: Any, tickSpecs: Any, textSpecs: Any) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        bounds = self.boundingRect()
        p.setClipRect(bounds)
        font = QFont(p.font())
        metrics_width = bounds.width() - 30
        for rect, _flags, key in textSpecs:
            if not key.isdigit() or not self.first_row <= int(key) < len(self.labels):
                continue
            text, color, selected = self.labels[int(key)]
            cy = rect.center().y()
            if selected:
                p.setPen(Qt.PenStyle.NoPen)
                highlight = QColor(style.ACCENT)
                highlight.setAlpha(60)
                p.setBrush(highlight)
                p.drawRoundedRect(QRectF(bounds.left() + 3, cy - 10, bounds.width() - 6, 20), 4, 4)
            p.setPen(QPen(QColor(0, 0, 0, 140), 1))
            p.setBrush(QColor(color))
            p.drawEllipse(QRectF(bounds.left() + 10, cy - 4.5, 9, 9))
            font.setBold(selected)
            p.setFont(font)
            p.setPen(QColor(style.TEXT if selected else style.TEXT_DIM))
            elided = p.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, int(metrics_width))
            p.drawText(QRectF(bounds.left() + 25, cy - 10, metrics_width, 20),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), elided)


class TimelineViewBox(pg.ViewBox):
    """The lanes' view: click and drag scrub, Shift+drag selects a range, Ctrl or middle drag pans.

    It reports to the timeline widget through ``_clicked``, ``_scrub``, ``_drag_range``,
    ``_scroll_lanes`` and ``_context_menu``; the wheel zooms the frame axis around the cursor
    (pyqtgraph's own), Shift+wheel scrolls the lanes when they do not all fit.
    """

    def __init__(self, timeline: Any) -> None:
        super().__init__(enableMenu=False)
        self._timeline = timeline

    def mouseClickEvent(self, ev: Any) -> None:
        point = self.mapToView(ev.pos())
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._timeline._clicked(point.x(), point.y())
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self._timeline._context_menu(point.x(), point.y(), ev.screenPos().toPoint())

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:  # Shift+wheel scrolls the lanes
            ev.accept()
            self._timeline._scroll_lanes(-1 if ev.delta() > 0 else 1)
            return
        super().wheelEvent(ev, axis)

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:
        modifiers = ev.modifiers()
        if ev.button() == Qt.MouseButton.LeftButton and not modifiers & Qt.KeyboardModifier.ControlModifier:
            ev.accept()
            x = self.mapToView(ev.pos()).x()
            if modifiers & Qt.KeyboardModifier.ShiftModifier:
                start = self.mapToView(ev.buttonDownPos()).x()
                self._timeline._drag_range(start, x)
            else:
                self._timeline._scrub(x)
            return
        super().mouseDragEvent(ev, axis)  # middle or Ctrl+left: pan; right: zoom


def _source_code(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else _IMPORTED
