"""The timeline under the canvas: transport controls, a ruler with the playhead, one lane per object.

Each lane shows where the object has a mask, its locked frames (diamonds), its confidence
as a red-to-green strip (your edits and locked frames count as sure), review marks, and a
small triangle on the frame where a click session is open (timeline_lanes.py draws them).

Mouse: click or drag anywhere to scrub (the playhead follows), drag the playhead itself,
wheel to zoom around the cursor, middle or Ctrl+drag to pan, Shift+drag to select a frame
range (used by the range edits), Shift+wheel to scroll the lanes, right click for a menu.
A click on a lane also selects that object (``object_clicked``).

Updates are incremental and coalesced: the bridge's ``masks_changed`` names the frames, the
lane re-reads just those rows, and one short timer redraws whatever changed since the last
tick, so a propagation writing frame after frame costs a few milliseconds per tick even on
a 10,000-frame video with ten objects.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMenu,
    QScrollBar,
    QVBoxLayout,
    QWidget,
)

from annotator.app.events import (
    FrameChanged,
    MarksChanged,
    MasksChanged,
    ObjectsChanged,
    ProjectClosed,
    ProjectOpened,
    PromptsChanged,
)
from annotator.gui import style
from annotator.gui.jobs import SessionBridge
from annotator.gui.player import Player, TransportBar
from annotator.gui.timeline_lanes import LaneAxis, LaneData, LaneItems, TimelineViewBox
from annotator.gui.widgets_common import format_time

UPDATE_MS = 40  # coalescing interval for store changes
LANE_PX = 30  # height of one lane on screen
HEADER = 0.62  # a band above the lanes (in lanes) for the playhead's frame label
PER_FRAME_LIMIT = 64  # more changed frames than this: re-read the whole track (one query)


class TimelineWidget(QWidget):
    """The timeline dock's widget; ``player`` drives playback."""

    object_clicked = Signal(int)  # a lane was clicked: select this object
    range_changed = Signal(object)  # (first, last) inclusive, or None

    def __init__(self, bridge: SessionBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.bridge = bridge
        self.session = bridge.session
        self.player = Player(bridge, self)
        self._frame_count = 0
        self._lanes: dict[int, LaneItems] = {}
        self._data: dict[int, LaneData] = {}
        self._order: list[int] = []  # object ids, top to bottom
        self._names: dict[int, str] = {}
        self._selected: int | None = None
        self._prompt_frames: dict[int, int] = {}
        self._pending_masks: dict[int, set[int] | None] = {}
        self._pending_marks: set[int] = set()
        self._objects_dirty = False
        self._range: tuple[int, int] | None = None

        self.transport = TransportBar(self)
        self.view = TimelineViewBox(self)
        self.lane_axis = LaneAxis()
        ruler = pg.AxisItem("top")
        ruler.setPen(pg.mkPen(style.BORDER))
        ruler.setTextPen(pg.mkPen(style.TEXT_DIM))
        ruler.setStyle(tickLength=-5, tickTextOffset=3)
        self.plot = pg.PlotWidget(viewBox=self.view, axisItems={"left": self.lane_axis, "top": ruler})
        self.plot.setBackground(style.BASE)
        self.plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the window's shortcuts
        self.plot.setMinimumHeight(3 * LANE_PX + 30)
        item = self.plot.getPlotItem()
        item.hideButtons()
        item.showAxis("top")
        item.hideAxis("bottom")
        item.layout.setContentsMargins(0, 2, 10, 2)
        self.view.invertY(True)
        self.view.setMouseEnabled(x=True, y=False)
        self.view.enableAutoRange(enable=False)
        self.view.setDefaultPadding(0)
        self.lanes_scroll = QScrollBar(Qt.Orientation.Vertical)
        self.lanes_scroll.hide()
        self.lanes_scroll.valueChanged.connect(lambda _v: self._fit_lanes())

        self._backgrounds = pg.BarGraphItem(x0=[], width=[], y0=[], height=[], pen=pg.mkPen(None), brush=None)
        self._backgrounds.setZValue(-10)
        self.view.addItem(self._backgrounds, ignoreBounds=True)
        # The band above the lanes stays empty when the lanes scroll: it covers a half-hidden lane.
        self._header_band = pg.BarGraphItem(x0=[0], width=[1], y0=[-HEADER], height=[HEADER],
                                            pen=pg.mkPen(None), brush=style.BASE)
        self._header_band.setZValue(40)
        self.view.addItem(self._header_band, ignoreBounds=True)
        # Search scores (the Find panel): a bar per indexed frame in the band above the lanes.
        self.score_strip = pg.BarGraphItem(x0=[], width=[], y0=[], height=[], pen=pg.mkPen(None),
                                           brush=pg.mkBrush(255, 196, 61, 170))
        self.score_strip.setZValue(41)
        self.view.addItem(self.score_strip, ignoreBounds=True)
        self._strip_top = 0.0
        self.playhead = pg.InfiniteLine(0, angle=90, movable=True, pen=pg.mkPen(style.ACCENT, width=2),
                                        hoverPen=pg.mkPen("#8fb6ff", width=3))
        self.playhead.setZValue(100)
        self.playhead_label = pg.InfLineLabel(self.playhead, text="{value:.0f}", position=0.0,
                                              anchors=[(0.5, 0), (0.5, 0)], color="#ffffff",
                                              fill=pg.mkBrush(style.ACCENT_DIM))
        self.playhead.setCursor(Qt.CursorShape.SizeHorCursor)
        self.playhead.setToolTip("Drag to scrub")
        self.playhead.sigDragged.connect(lambda line: self._scrub(line.value()))
        self.playhead.sigPositionChangeFinished.connect(lambda _line: self._snap_playhead())
        self.view.addItem(self.playhead, ignoreBounds=True)
        self.region = pg.LinearRegionItem((0, 0), orientation="vertical", movable=True,
                                          brush=pg.mkBrush(76, 141, 255, 38),
                                          hoverBrush=pg.mkBrush(76, 141, 255, 60),
                                          pen=pg.mkPen(style.ACCENT_DIM, width=1))
        self.region.setZValue(50)
        self.region.hide()
        self.region.sigRegionChanged.connect(self._region_moved)
        self.view.addItem(self.region, ignoreBounds=True)
        self.hint = pg.TextItem("No objects yet: press N, or click on the frame to add one",
                                color=style.TEXT_FAINT, anchor=(0, 0.5))
        self.view.addItem(self.hint, ignoreBounds=True)

        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.transport)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.plot, 1)
        row.addWidget(self.lanes_scroll)
        column.addLayout(row, 1)

        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(UPDATE_MS)
        self._update_timer.timeout.connect(self._apply_updates)
        self._strips_timer = QTimer(self)  # a child: it dies with the widget, never fires after
        self._strips_timer.setSingleShot(True)
        self._strips_timer.setInterval(0)
        self._strips_timer.timeout.connect(self._render_all_strips)

        self._connect()
        if self.session.is_open:
            self._on_project_opened()
        else:
            self._set_enabled(False)

    def sizeHint(self) -> QSize:
        """Room for the transport row, the ruler and four lanes: the canvas keeps the space."""
        lanes = max(4, min(len(self._order), 8))
        return QSize(900, self.transport.sizeHint().height() + int((lanes + HEADER) * LANE_PX) + 34)

    # --- public API ------------------------------------------------------------------------------
    def set_search_scores(self, frames: Any, scores: Any) -> None:
        """Show search scores as a strip above the lanes (empty arrays clear it). Scores are
        stretched between their median and their best, so the frames that stand out show."""
        frames = np.asarray(frames, np.float64)
        scores = np.asarray(scores, np.float64)
        if len(frames) == 0:
            self._scores = None
        else:
            low, high = float(np.median(scores)), float(scores.max())
            level = np.clip((scores - low) / (high - low), 0.0, 1.0) if high > low else np.ones_like(scores)
            step = float(np.median(np.diff(frames))) if len(frames) > 1 else 1.0
            self._scores = (frames - step / 2, np.full(len(frames), step), level)
        self._place_scores()

    def _place_scores(self) -> None:
        strip = getattr(self, "_scores", None)
        if strip is None:
            self.score_strip.setOpts(x0=[], width=[], y0=[], height=[])
            return
        x0, width, level = strip
        height = level * (HEADER - 0.08)
        self.score_strip.setOpts(x0=x0, width=width, y0=self._strip_top - height, height=height)

    def set_selected_object(self, oid: int | None) -> None:
        self._selected = oid or None
        self._relabel()
        if self._selected in self._order and self.lanes_scroll.isVisible():  # bring its lane into view
            row = self._order.index(self._selected)
            scroll = self.lanes_scroll
            if not scroll.value() <= row < scroll.value() + scroll.pageStep():
                scroll.setValue(min(row, scroll.maximum()))

    def selected_range(self) -> tuple[int, int] | None:
        """The Shift+dragged frame range, first and last frame included, or None."""
        return self._range

    def set_range(self, first: int, last: int) -> None:
        first, last = sorted((int(first), int(last)))
        first = max(0, first)
        last = min(self._frame_count - 1, last)
        self.region.blockSignals(True)
        self.region.setRegion((first - 0.5, last + 0.5))
        self.region.blockSignals(False)
        self.region.show()
        self._set_range((first, last))

    def clear_range(self) -> None:
        self.region.hide()
        self._set_range(None)

    def zoom_to(self, first: float, last: float) -> None:
        self.view.setXRange(first - 0.5, last + 0.5, padding=0.02)

    def zoom_all(self) -> None:
        if self._frame_count:
            self.view.setXRange(-0.5, self._frame_count - 0.5, padding=0.01)

    def lane_ids(self) -> list[int]:
        """Object ids of the lanes, top to bottom."""
        return list(self._order)

    def lane_data(self, oid: int) -> LaneData | None:
        return self._data.get(oid)

    def flush(self) -> None:
        """Apply pending store changes now (tests, screenshots)."""
        self._update_timer.stop()
        self._apply_updates()

    def shutdown(self) -> None:
        self.player.pause()
        self._update_timer.stop()
        self._strips_timer.stop()

    # --- bridge ------------------------------------------------------------------------------------
    def _connect(self) -> None:
        b = self.bridge
        b.event.connect(self._on_event)
        t = self.transport
        t.play.clicked.connect(self.player.toggle)
        t.first.clicked.connect(lambda: self._go(0))
        t.last.clicked.connect(lambda: self._go(self._frame_count - 1))
        t.back.clicked.connect(lambda: self.player.step(-1))
        t.forward.clicked.connect(lambda: self.player.step(1))
        t.frame.valueChanged.connect(self._go)
        t.speed.currentIndexChanged.connect(lambda i: self.player.set_speed(t.speed.itemData(i)))
        t.fit.clicked.connect(self.zoom_all)
        t.clear_range.clicked.connect(self.clear_range)
        self.player.playing_changed.connect(t.set_playing)
        self.player.speed_changed.connect(self._on_speed_changed)
        self.view.sigXRangeChanged.connect(lambda *_: self._on_view_changed())
        self.view.sigResized.connect(lambda *_: (self._fit_lanes(), self._on_view_changed()))
        self.plot.scene().sigMouseMoved.connect(self._hovered)

    def _on_event(self, event: object) -> None:
        match event:
            case ProjectOpened():
                self._on_project_opened(event)
            case ProjectClosed():
                self._on_project_closed()
            case FrameChanged(frame=frame):
                self._on_frame_changed(frame)
            case MasksChanged(object_id=oid, frames=frames):
                self._on_masks_changed(oid, frames)
            case MarksChanged(object_id=oid, frames=frames):
                self._on_marks_changed(oid, frames)
            case ObjectsChanged():
                self._on_objects_changed()
            case PromptsChanged(object_id=oid, frame=frame):
                self._on_prompts_changed(oid, frame)

    def _on_project_opened(self, _event: ProjectOpened | None = None) -> None:
        self._frame_count = self.session.frame_count  # the video as opened (its project may predate a change)
        n = self._frame_count
        self.transport.frame.blockSignals(True)
        self.transport.frame.setRange(0, max(0, n - 1))
        self.transport.frame.blockSignals(False)
        self.transport.count.setText(f"/ {max(0, n - 1)}")
        self.view.setLimits(xMin=-0.5 - n * 0.02, xMax=n - 0.5 + n * 0.02, minXRange=min(max(n, 1), 12))
        self.playhead.setBounds((0, max(0, n - 1)))
        self._header_band.setOpts(x0=[-n - 10.0], width=[3.0 * n + 20])
        self.clear_range()
        for oid in list(self._lanes):
            self._drop_lane(oid)
        self._prompt_frames.clear()
        self._pending_masks.clear()
        self._pending_marks.clear()
        self._rebuild_lanes()
        self.zoom_all()
        self._set_enabled(True)
        self._on_frame_changed(self.session.current_frame)

    def _on_project_closed(self) -> None:
        self._update_timer.stop()
        for oid in list(self._lanes):
            self._drop_lane(oid)
        self._order = []
        self._frame_count = 0
        self._relabel()
        self._set_enabled(False)

    def _on_frame_changed(self, frame: int) -> None:
        self.playhead.setValue(frame)  # emits only sigPositionChanged (its label follows)
        spin = self.transport.frame
        spin.blockSignals(True)
        spin.setValue(frame)
        spin.blockSignals(False)
        video = self.session.video_info
        if video is not None:
            self.transport.time.setText(f"{format_time(video.timestamp(frame))} / "
                                        f"{format_time(video.timestamp(video.frame_count - 1))}")
        self._follow(frame)

    def _on_masks_changed(self, oid: Any, frames: Any) -> None:
        if oid is None:
            for lane in self._data:
                self._pending_masks[lane] = None
        elif oid in self._data:
            pending = self._pending_masks.get(oid, set())
            if frames is None or pending is None:
                self._pending_masks[oid] = None
            else:
                pending.update(frames)
                self._pending_masks[oid] = pending if len(pending) <= PER_FRAME_LIMIT else None
        self._schedule()

    def _on_marks_changed(self, oid: Any, _frames: Any) -> None:
        self._pending_marks.update(self._data if oid is None else [oid])
        self._schedule()

    def _on_objects_changed(self) -> None:
        self._objects_dirty = True
        self._schedule()

    def _on_prompts_changed(self, oid: int, frame: int) -> None:
        if not self.session.is_open:
            return
        if oid == 0:  # every click session was dropped
            self._prompt_frames.clear()
        else:
            state = self.session.prompt_state(oid, frame)
            if state is not None and (state.points or state.box is not None):
                self._prompt_frames[oid] = frame
            elif self._prompt_frames.get(oid) == frame:
                del self._prompt_frames[oid]
        for lane_oid, lane in self._lanes.items():
            lane.set_prompt_frame(self._prompt_frames.get(lane_oid))

    def _on_speed_changed(self, speed: float) -> None:
        combo = self.transport.speed
        index = combo.findData(speed)
        combo.blockSignals(True)
        if index >= 0:
            combo.setCurrentIndex(index)
        combo.blockSignals(False)

    # --- updates -------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._update_timer.isActive():
            self._update_timer.start()

    def _apply_updates(self) -> None:
        project = self.session.view if self.session.is_open else None
        if project is None or project.closed:
            return
        if self._objects_dirty:
            self._objects_dirty = False
            self._rebuild_lanes()
        pending, self._pending_masks = self._pending_masks, {}
        marks, self._pending_marks = self._pending_marks, set()
        changed = set()
        for oid, frames in pending.items():
            data = self._data.get(oid)
            if data is None:
                continue
            if frames is None:
                data.load_summary(project.track_summary(oid))
            else:
                for frame in frames:
                    data.set_frame(frame, project.mask(oid, frame))
            changed.add(oid)
        for oid in marks:
            if oid in self._data:
                self._data[oid].set_reviewed(project.reviewed_frames(oid))
                changed.add(oid)
        for oid in changed:
            self._lanes[oid].refresh(self._data[oid], self._order.index(oid), self._min_width())
        if changed:
            self._render_strips(changed)

    def _rebuild_lanes(self) -> None:
        """Lanes for the visible objects, in id order; new lanes read their whole track once."""
        project = self.session.view if self.session.is_open else None
        objects = [o for o in project.objects() if not o.hidden] if project is not None else []
        wanted = {o.id for o in objects}
        for oid in [o for o in self._lanes if o not in wanted]:
            self._drop_lane(oid)
        self._order = [o.id for o in objects]
        self._names = {o.id: o.name for o in objects}
        for row, info in enumerate(objects):
            lane = self._lanes.get(info.id)
            if lane is None:
                lane = self._lanes[info.id] = LaneItems(self.view, info.color)
                data = self._data[info.id] = LaneData(self._frame_count)
                data.load_summary(project.track_summary(info.id))  # type: ignore[union-attr]
                data.set_reviewed(project.reviewed_frames(info.id))  # type: ignore[union-attr]
                self._pending_masks.pop(info.id, None)
            lane.set_color(info.color)
            lane.refresh(self._data[info.id], row, self._min_width())
            lane.set_prompt_frame(self._prompt_frames.get(info.id))
        self._relabel()
        self._fit_lanes()
        self._render_strips(set(self._order))

    def _drop_lane(self, oid: int) -> None:
        lane = self._lanes.pop(oid, None)
        if lane is not None:
            lane.remove()
        self._data.pop(oid, None)
        self._prompt_frames.pop(oid, None)

    def _relabel(self) -> None:
        labels = [(f"{oid}  {self._names.get(oid, '')}", self._lanes[oid].color, oid == self._selected)
                  for oid in self._order]
        self.lane_axis.set_labels(labels)
        n = len(self._order)
        width = self._frame_count + 4
        accent = QColor(style.ACCENT)
        accent.setAlpha(34)
        brushes = [accent if oid == self._selected else QColor(style.PANEL if i % 2 else "#202125")
                   for i, oid in enumerate(self._order)]
        self._backgrounds.setOpts(x0=np.full(n, -2.0), width=np.full(n, width), y0=np.arange(n) + 0.02,
                                  height=np.full(n, 0.96), brushes=brushes or None, brush=None)
        self.hint.setVisible(n == 0 and self._frame_count > 0)
        self._place_hint()

    # --- geometry --------------------------------------------------------------------------------------
    def _visible_frames(self) -> tuple[int, int]:
        (x0, x1), _ = self.view.viewRange()
        first = max(0, int(math.floor(x0 + 0.5)))
        last = min(self._frame_count - 1, int(math.ceil(x1 - 0.5)))
        return first, last

    def _min_width(self) -> float:
        """One screen pixel in frames (bars are never drawn thinner)."""
        (x0, x1), _ = self.view.viewRange()
        width = max(1.0, self.view.width())
        return max(1.0, (x1 - x0) / width)

    def _on_view_changed(self) -> None:
        min_width = self._min_width()
        for lane in self._lanes.values():
            lane.set_min_width(min_width)
        self._place_hint()
        if not self._strips_timer.isActive():
            self._strips_timer.start()

    def _render_all_strips(self) -> None:
        self._render_strips(set(self._order))

    def _render_strips(self, oids: set[int]) -> None:
        if not self._frame_count:
            return
        first, last = self._visible_frames()
        (x0, x1), _ = self.view.viewRange()
        frames_px = self.view.width() * (last - first + 1) / max(1e-9, x1 - x0)
        for oid in oids:
            if oid in self._lanes:
                self._lanes[oid].render_strip(self._data[oid], first, last, max(1, int(frames_px)))

    def _fit_lanes(self) -> None:
        """Lanes keep LANE_PX on screen; a scroll bar appears when they do not all fit."""
        height = max(1.0, self.view.height())
        span = height / LANE_PX - HEADER
        n = len(self._order)
        scroll = self.lanes_scroll
        if n > span + 1e-6:
            scroll.blockSignals(True)
            scroll.setRange(0, int(math.ceil(n - span)))
            scroll.setPageStep(max(1, int(span)))
            scroll.blockSignals(False)
            scroll.show()
            top = float(scroll.value())
        else:
            scroll.hide()
            top = 0.0
        self._header_band.setOpts(y0=[top - HEADER - 0.02])
        self._strip_top = top
        self._place_scores()
        if self.lane_axis.first_row != int(top):
            self.lane_axis.first_row = int(top)
            self.lane_axis.picture = None
            self.lane_axis.update()
        self.view.setYRange(top - HEADER, top + span, padding=0)

    def _scroll_lanes(self, rows: int) -> None:
        if self.lanes_scroll.isVisible():
            self.lanes_scroll.setValue(self.lanes_scroll.value() + rows)

    def _place_hint(self) -> None:
        (x0, x1), _ = self.view.viewRange()
        self.hint.setPos(QPointF(x0 + (x1 - x0) * 0.01, 0.5))

    def _follow(self, frame: int) -> None:
        """Keep the playhead in view: page forward while playing, centre after a jump."""
        (x0, x1), _ = self.view.viewRange()
        if x0 <= frame <= x1:
            return
        span = x1 - x0
        start = frame - span * (0.05 if self.player.is_playing else 0.5)
        self.view.setXRange(start, start + span, padding=0)

    # --- mouse -----------------------------------------------------------------------------------------
    def _frame_at(self, x: float) -> int:
        return int(min(max(0, round(x)), max(0, self._frame_count - 1)))

    def _lane_at(self, y: float) -> int | None:
        row = int(math.floor(y))
        return self._order[row] if 0 <= row < len(self._order) and y >= 0 else None

    def _go(self, frame: int) -> None:
        if self.session.video_info is not None:
            self.session.set_frame(int(frame))

    def _scrub(self, x: float) -> None:
        if self.session.video_info is None:
            return
        if self.player.is_playing:
            self.player.pause()
        self.session.set_frame(self._frame_at(x))

    def _snap_playhead(self) -> None:
        self.playhead.setValue(self.session.current_frame)

    def _clicked(self, x: float, y: float) -> None:
        self._scrub(x)
        oid = self._lane_at(y)
        if oid is not None:
            self.object_clicked.emit(oid)

    def _drag_range(self, start: float, x: float) -> None:
        if self._frame_count:
            self.set_range(self._frame_at(start), self._frame_at(x))

    def _region_moved(self) -> None:
        a, b = self.region.getRegion()
        first, last = self._frame_at(a + 0.5), self._frame_at(b - 0.5)
        self._set_range((first, max(first, last)))

    def _set_range(self, value: tuple[int, int] | None) -> None:
        if value == self._range:
            return
        self._range = value
        t = self.transport
        if value is None:
            t.range.setText("")
            t.clear_range.hide()
        else:
            first, last = value
            t.range.setText(f"Range {first}–{last}  ({last - first + 1} frames)")
            t.clear_range.show()
        self.range_changed.emit(value)

    def _hovered(self, scene_pos: QPointF) -> None:
        if not self._frame_count or not self.view.sceneBoundingRect().contains(scene_pos):
            self.transport.hover.setText("")
            return
        point = self.view.mapSceneToView(scene_pos)
        frame = self._frame_at(point.x())
        oid = self._lane_at(point.y())
        if oid is None:
            self.transport.hover.setText(f"frame {frame}")
            return
        self.transport.hover.setText(f"{self._names.get(oid, oid)} · frame {frame}: "
                                     f"{self._data[oid].describe(frame)}")

    def _context_menu(self, x: float, y: float, screen_pos: Any) -> None:
        frame = self._frame_at(x)
        oid = self._lane_at(y)
        menu = QMenu(self)
        menu.addAction(f"Go to frame {frame}", lambda: self._go(frame))
        if oid is not None:
            name = self._names.get(oid, str(oid))
            menu.addAction(f"Select {name}", lambda: self.object_clicked.emit(oid))
            frames = np.flatnonzero(self._data[oid].state)
            if frames.size:
                menu.addAction(f"Zoom to {name}'s frames",
                               lambda: self.zoom_to(float(frames[0]), float(frames[-1])))
        menu.addSeparator()
        menu.addAction("Show all frames", self.zoom_all)
        if self._range is not None:
            menu.addAction("Clear range selection", self.clear_range)
        menu.popup(screen_pos)

    def _set_enabled(self, enabled: bool) -> None:
        self.transport.setEnabled(enabled)
        self.playhead.setVisible(enabled)
        self.plot.getPlotItem().showAxis("top", enabled)  # no ruler of 0.1 .. 0.9 with nothing open
        if not enabled:
            self.transport.time.setText("0:00.00 / 0:00.00")
            self.transport.count.setText("/ 0")
            self.hint.hide()
