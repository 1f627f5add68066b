"""What the canvas gestures and the edit keys do: each becomes one Session call.

- A click segments the selected object (a new one if none is selected). The rough preview
  (``Session.rough_preview``, a few ms) is drawn at once; the engine's mask replaces it when
  its Job finishes. Clicks never wait: ``Session.click`` returns a Job at once.
- A brush or eraser stroke is one ``Session.paint`` call (one edit, one undo step, locked).
- L, Delete, Shift+Delete, U, Enter and Esc act on the selected object on this frame.

The canvas is redrawn from the store on ``frame_ready`` (a new frame decoded) and whenever
the bridge says this frame's masks, the objects or the prompts changed. Redraws are
coalesced, so a propagation writing many frames costs one redraw per timer tick at most.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QColor

from annotator.app.events import (
    FrameChanged,
    MarksChanged,
    MasksChanged,
    ObjectsChanged,
    ProjectClosed,
    ProjectOpened,
    PromptsChanged,
)
from annotator.app.values import Job, JobState, ObjectInfo
from annotator.errors import AnnotatorError
from annotator.gui.canvas import CanvasView
from annotator.gui.jobs import SessionBridge
from annotator.gui.relay import FrameLoader, JobRelay
from annotator.gui.tools import BrushTool, PromptTool

REDRAW_MS = 15


class Interaction(QObject):
    selection_changed = Signal(object)  # object id or None
    segment_finished = Signal(object)  # the click/box Job

    def __init__(self, bridge: SessionBridge, canvas: CanvasView, say: Callable[[str, str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.session = bridge.session
        self.canvas = canvas
        self._say = say
        self.current_object: int | None = None
        self.prompt_tool = PromptTool(canvas.scene())
        self.brush_tool = BrushTool(canvas.scene())
        self.prompt_tool.point.connect(self.click)
        self.prompt_tool.box.connect(self.box)
        self.prompt_tool.pick.connect(self.pick)
        self.brush_tool.stroke.connect(self.stroke)
        canvas.set_tool(self.prompt_tool)

        self.frames = FrameLoader(self.session, self)
        self.frames.frame_ready.connect(self._on_frame_ready)
        self.frames.failed.connect(lambda frame, message: self._say(f"Frame {frame}: {message}", "warning"))
        self._relay = JobRelay(self)
        self._relay.finished.connect(self._on_segment_done)
        self._segment_jobs: list[Job[Any]] = []
        self._objects: dict[int, ObjectInfo] = {}
        self._preview: np.ndarray | None = None
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self.redraw)

        bridge.event.connect(self._on_event)

    # --- selection ---------------------------------------------------------------------------------
    def select(self, oid: int | None) -> None:
        oid = oid or None
        if oid is not None and oid not in self._objects:
            self._objects = {o.id: o for o in self.session.objects()} if self.session.is_open else {}
            if oid not in self._objects:
                return
        if oid == self.current_object:
            return
        self.current_object = oid
        self._preview = None
        self.brush_tool.color = self._color(oid)
        self.selection_changed.emit(oid)
        self._schedule()

    def select_nth(self, n: int) -> None:
        ordered = sorted(self._objects)
        if 1 <= n <= len(ordered):
            self.select(ordered[n - 1])
        else:
            self._say(f"There is no object {n} (there are {len(ordered)}).", "info")

    def new_object(self) -> int | None:
        if not self.session.is_open:
            return None
        info = self.session.add_object()
        self._objects[info.id] = info
        self.select(info.id)
        self._say(f"{info.name} added: click on it to segment.", "info")
        return info.id

    def _color(self, oid: int | None) -> QColor:
        info = self._objects.get(oid) if oid is not None else None
        return QColor(info.color) if info is not None else QColor("#4c8dff")

    def _object_for_edit(self, create: bool) -> int | None:
        if self.current_object is not None:
            return self.current_object
        if create:
            return self.new_object()
        self._say("Select an object first (1–9, or click one in the Objects panel).", "info")
        return None

    # --- prompts ---------------------------------------------------------------------------------
    def click(self, x: float, y: float, positive: bool) -> Job[Any] | None:
        if not self.session.is_open or self.canvas.frame_rgb is None:
            return None
        oid = self._object_for_edit(create=positive)
        if oid is None:
            return None
        frame = self.canvas.frame_index  # the frame the user sees, even if a newer one is decoding
        color = self._color(oid)
        try:
            self._preview = self.session.rough_preview(oid, x, y, positive, self.canvas.frame_rgb,
                                                       base=self._preview, frame=frame)
            self.canvas.prompts.show_preview(self._preview, color)
            job = self.session.click(oid, x, y, positive, frame=frame)
        except AnnotatorError as exc:
            self._say(exc.reason, "warning")
            return None
        return self._track(job)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> Job[Any] | None:
        if not self.session.is_open or self.canvas.frame_rgb is None:
            return None
        oid = self._object_for_edit(create=True)
        if oid is None:
            return None
        frame = self.canvas.frame_index
        h, w = self.canvas.frame_rgb.shape[:2]
        inside = np.zeros((h, w), bool)
        inside[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
        guess = self.session.rough_preview(oid, (x0 + x1) / 2, (y0 + y1) / 2, True, self.canvas.frame_rgb,
                                           base=np.zeros((h, w), bool), frame=frame)
        self._preview = guess & inside
        self.canvas.prompts.show_preview(self._preview, self._color(oid))
        try:
            job = self.session.set_box(oid, (x0, y0, x1, y1), frame=frame)
        except AnnotatorError as exc:
            self._say(str(exc), "warning")
            return None
        return self._track(job)

    def pick(self, x: float, y: float) -> None:
        if not self.session.is_open:
            return
        oid = self.canvas.overlays.object_at(x, y, self.session.masks_on_frame(self.canvas.frame_index))
        self.select(oid)

    def commit(self) -> None:
        if self.current_object is not None and self.session.is_open:
            self.session.commit_prompts(self.current_object)
            self._clear_preview()

    def escape(self) -> bool:
        """Esc: abort a gesture, else clear this frame's prompts. False if there was nothing."""
        tool = self.canvas.tool
        if tool is not None and tool.cancel():
            return True
        if self.current_object is None or not self.session.is_open:
            return False
        state = self.session.prompt_state(self.current_object)
        if state is None or (not state.points and state.box is None):
            return False
        for job in self._segment_jobs:
            job.cancel()
        self.session.clear_prompts(self.current_object)
        self._clear_preview()
        return True

    def has_prompts(self) -> bool:
        if self.current_object is None or not self.session.is_open:
            return False
        state = self.session.prompt_state(self.current_object)
        return state is not None and bool(state.points or state.box is not None)

    def _track(self, job: Job[Any]) -> Job[Any]:
        self._segment_jobs.append(job)
        self._relay.watch(job)
        return job

    def _on_segment_done(self, job: Job[Any]) -> None:
        if job in self._segment_jobs:
            self._segment_jobs.remove(job)
        if not any(not j.done() for j in self._segment_jobs):
            self._clear_preview()  # the engine's answer is in the store now (or it failed)
        if job.state is JobState.FAILED:
            self._schedule()
        self.segment_finished.emit(job)

    def segmenting(self) -> bool:
        """A click is outstanding until the UI thread has shown its answer, not merely until the
        engine has stored it (the job's end reaches this thread through a queued signal)."""
        return bool(self._segment_jobs)

    def _clear_preview(self) -> None:
        self._preview = None
        self.canvas.prompts.show_preview(None, QColor())
        self._schedule()

    # --- direct edits --------------------------------------------------------------------------------
    def stroke(self, mask: np.ndarray, erase: bool) -> None:
        oid = self._object_for_edit(create=not erase)
        if oid is None or not self.session.is_open:
            return
        try:
            self.session.paint(oid, mask, erase=erase, frame=self.canvas.frame_index)
        except (AnnotatorError, ValueError) as exc:
            self._say(str(exc), "warning")

    def toggle_lock(self) -> None:
        oid = self._object_for_edit(create=False)
        if oid is not None:
            locked = self.session.toggle_lock(oid)
            name = self._objects[oid].name if oid in self._objects else f"object {oid}"
            self._say(f"Frame {self.session.current_frame} {'locked' if locked else 'unlocked'} "
                      f"for {name}.", "info")

    def mark_absent_here(self) -> None:
        oid = self._object_for_edit(create=False)
        if oid is not None:
            frame = self.session.current_frame
            self.session.mark_absent(oid, frame, frame)

    def remove_mask(self) -> None:
        oid = self._object_for_edit(create=False)
        if oid is not None:
            self.session.clear_mask(oid)

    def toggle_reviewed(self) -> None:
        oid = self._object_for_edit(create=False)
        if oid is None or not self.session.is_open:
            return
        frame = self.session.current_frame
        reviewed = frame in self.session.view.reviewed_frames(oid)
        self.session.set_reviewed(oid, not reviewed)
        self._say(f"Frame {frame} {'un' if reviewed else ''}marked as reviewed.", "info")

    # --- drawing ----------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def redraw(self) -> None:
        """Masks, prompts and the heads-up text for the frame on screen, from the store."""
        canvas, session = self.canvas, self.session
        if not session.is_open or canvas.frame_rgb is None:
            return
        frame = canvas.frame_index
        records = session.masks_on_frame(frame)
        canvas.overlays.show(records, self._objects, self.current_object, canvas.frame_rgb.shape[:2])
        state = session.prompt_state(self.current_object, frame) if self.current_object else None
        if state is None:
            canvas.prompts.show_prompts([], [], None)
        else:
            canvas.prompts.show_prompts(state.points, state.labels, state.box)
        self._update_hud(records)

    def _update_hud(self, records: list[Any]) -> None:
        oid = self.current_object
        if oid is None or oid not in self._objects:
            self.canvas.set_hud([], "")
            return
        info = self._objects[oid]
        record = next((r for r in records if r.object_id == oid), None)
        line = info.name
        if record is None:
            detail = "no mask here"
        elif record.area == 0:
            detail = "absent here" + (" (locked)" if record.locked else "")
        else:
            detail = {"user": "your edit", "tracked": "tracked", "imported": "imported",
                      "detected": "detected"}.get(record.source, record.source)
            if record.score is not None and record.source == "tracked":
                detail += f" · confidence {record.score:.2f}"
        badge = "LOCKED" if record is not None and record.locked else ""
        if self.canvas.prompts.preview_shown:
            badge = "PREVIEW"
        self.canvas.set_hud([f"{line}   ·   {detail}  ·  frame {self.canvas.frame_index}"], badge,
                            QColor(info.color))

    # --- bridge ---------------------------------------------------------------------------------------------
    def _on_event(self, event: object) -> None:
        match event:
            case FrameChanged(frame=frame):
                self._on_frame_changed(frame)
            case MasksChanged(object_id=oid, frames=frames):
                self._on_masks_changed(oid, frames)
            case ObjectsChanged():
                self._on_objects_changed()
            case PromptsChanged() | MarksChanged():
                self._schedule()
            case ProjectOpened():
                self._on_project_opened(event)
            case ProjectClosed():
                self._on_project_closed()

    def _on_project_opened(self, _project: object) -> None:
        self._objects = {o.id: o for o in self.session.objects()}
        self.current_object = None
        if self._objects:
            self.select(min(self._objects))
        self.frames.request(self.session.current_frame)
        self.session.warm_up_preview()  # so the first click's preview is as quick as the others

    def _on_project_closed(self) -> None:
        self._objects = {}
        self.current_object = None
        self._preview = None
        self._segment_jobs.clear()
        self.canvas.clear_frame()
        self.selection_changed.emit(None)

    def _on_frame_changed(self, frame: int) -> None:
        if self._preview is not None:
            self._clear_preview()
        self.frames.request(frame)

    def _on_frame_ready(self, frame: int, rgb: np.ndarray) -> None:
        if not self.session.is_open:
            return
        self.canvas.show_frame(frame, rgb)
        self.redraw()

    def _on_masks_changed(self, _oid: object, frames: object) -> None:
        if frames is None or self.canvas.frame_index in frames:  # type: ignore[operator]
            self._schedule()

    def _on_objects_changed(self) -> None:
        if not self.session.is_open:
            return
        self._objects = {o.id: o for o in self.session.objects()}
        if self.current_object is not None and self.current_object not in self._objects:
            self.current_object = None
            self.selection_changed.emit(None)
        if self.current_object is not None:
            self.brush_tool.color = QColor(self._objects[self.current_object].color)
        self._schedule()

    def stop_timers(self) -> None:
        self._redraw_timer.stop()
