"""Playback: moves the session's current frame in step with a monotonic clock; and its controls.

Why a clock and not a counter of timer ticks: Qt timers fire late under load and a
counted tick drifts, so after a busy second playback runs slow. Here every tick asks the
clock which frame should be on screen now (by the video's own timestamps, so variable
frame rate files play at their real pace), goes to it, and arms a single-shot precise timer
for the moment the next frame is due. A tick that comes a little late still shows the next
frame (the following ones then come sooner, so the clock is caught up again); only when
playback falls more than ``MAX_LAG_S`` behind does it skip to the clock, and the frames it
passed over are counted as dropped (``stats()``).

Frames are decoded ahead of the playhead with ``VideoSource.prefetch`` (its own decoder and
thread, into the shared frame cache), so the view's ``Session.load_frame`` on the I/O lane
finds each frame already converted. Nothing is decoded on the UI thread.

Above ``MAX_RATE`` frames a second (4x on a 30 fps video) the display could not keep up
anyway: playback then shows every n-th frame by plan (``stride``), which is not counted as
dropping.
"""

from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QSpinBox, QWidget

from annotator.app.events import FrameChanged, ProjectClosed, ProjectOpened
from annotator.gui.icons import icon
from annotator.gui.jobs import SessionBridge
from annotator.gui.widgets_common import tool_button

SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0, 4.0)
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_RATE = 60.0  # frames shown per second at most
PREFETCH_SECONDS = 2.0  # how far ahead frames are decoded
MAX_LAG_S = 0.25  # behind the clock by more than this: skip frames to catch up
_MIN_PREFETCH = 12


class Player(QObject):
    """``play()``, ``pause()``, ``toggle()``, ``step(delta)``, ``set_speed(x)``; ``is_playing``."""

    playing_changed = Signal(bool)
    speed_changed = Signal(float)

    def __init__(self, bridge: SessionBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.session = bridge.session
        self._speed = 1.0
        self._playing = False
        self._moving = False  # True while we call set_frame ourselves
        self._origin_clock = 0.0  # monotonic time when the origin frame was due
        self._origin_video = 0.0  # that frame's timestamp in the video
        self._prefetch: Any = None
        self._prefetch_until = -1
        self._stats = _Stats()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        bridge.event.connect(self._on_event)

    # --- public API ------------------------------------------------------------------------
    @property
    def is_playing(self) -> bool:
        return self._playing

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def stride(self) -> int:
        """Frames advanced per shown frame: 1 unless the rate would pass ``MAX_RATE``."""
        return max(1, math.ceil(self._fps() * self._speed / MAX_RATE - 1e-9))

    def play(self) -> None:
        video = self.session.video
        if self._playing or video is None or video.frame_count < 2:
            return
        if self.session.current_frame >= video.frame_count - 1:
            self._set_frame(0)  # play from the start again, as every player does at the end
        self._playing = True
        # Encoding frames for clicks while they fly past only steals CPU from decoding.
        self.session.pause_precompute(True)
        self._stats = _Stats(start_frame=self.session.current_frame)
        self._rebase(self.session.current_frame)
        self._schedule(self.session.current_frame)
        self.playing_changed.emit(True)

    def pause(self) -> None:
        self._timer.stop()
        self._cancel_prefetch()
        if self._playing:
            self._playing = False
            self._stats.stop()
            self.session.pause_precompute(False)
            self.playing_changed.emit(False)

    def toggle(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    def step(self, delta: int) -> None:
        """Pause and move ``delta`` frames (the arrow keys)."""
        self.pause()
        if self.session.video is not None:
            self.session.step_frames(int(delta))

    def set_speed(self, speed: float) -> None:
        speed = float(min(MAX_SPEED, max(MIN_SPEED, speed)))
        if speed == self._speed:
            return
        self._speed = speed
        if self._playing:  # continue from where we are, at the new pace
            self._rebase(self.session.current_frame)
            self._schedule(self.session.current_frame)
        self.speed_changed.emit(speed)

    def faster(self) -> None:
        self.set_speed(next((s for s in SPEEDS if s > self._speed + 1e-9), MAX_SPEED))

    def slower(self) -> None:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self._speed - 1e-9), MIN_SPEED))

    def stats(self) -> dict[str, float]:
        """Since the last play(): frames shown, dropped (skipped to catch up) and late (shown behind
        the clock), the first and last frame, seconds, and the target and achieved fps."""
        return self._stats.report(self._fps() * self._speed / self.stride)

    # --- the clock -------------------------------------------------------------------------
    def _tick(self) -> None:
        video = self.session.video
        if not self._playing or video is None:
            return
        current = self.session.current_frame
        now = self._video_time_now()
        target = video.index_at(now)
        if target > current:
            planned = min(video.frame_count - 1, current + self.stride)
            behind_s = (now - video.timestamp(planned)) / self._speed
            # A little late (a busy moment): show the next frame anyway and let the clock pull
            # the following ones in sooner. Far behind: jump to the clock and count the drops.
            frame = target if behind_s > MAX_LAG_S else planned
            self._stats.shown(frame - planned, frame, late=target > planned)
            self._set_frame(frame)
            current = frame
        if current >= video.frame_count - 1:
            self.pause()
            return
        self._refill_prefetch(current)
        self._schedule(current)

    def _schedule(self, current: int) -> None:
        video = self.session.video
        if video is None:
            return
        following = min(video.frame_count - 1, current + self.stride)
        due = self._origin_clock + (video.timestamp(following) - self._origin_video) / self._speed
        self._timer.start(max(0, math.ceil((due - time.monotonic()) * 1000)))

    def _video_time_now(self) -> float:
        return self._origin_video + (time.monotonic() - self._origin_clock) * self._speed

    def _rebase(self, frame: int) -> None:
        """Make ``frame`` due now: after play, a speed change or a jump by the user."""
        video = self.session.video
        if video is None:
            return
        self._origin_clock = time.monotonic()
        self._origin_video = video.timestamp(frame)
        self._prefetch_until = -1
        self._refill_prefetch(frame)

    def _set_frame(self, frame: int) -> None:
        self._moving = True
        try:
            self.session.set_frame(frame)
        finally:
            self._moving = False

    def _on_event(self, event: object) -> None:
        match event:
            case FrameChanged(frame=frame):
                self._on_frame_changed(frame)
            case ProjectClosed():
                self.pause()
            case ProjectOpened():
                self._on_project_opened(event)

    def _on_project_opened(self, _project: object) -> None:
        self.pause()

    def _on_frame_changed(self, frame: int) -> None:
        if self._playing and not self._moving:  # the user scrubbed while playing: go on from there
            self._rebase(frame)
            self._schedule(frame)

    # --- decoding ahead ----------------------------------------------------------------------
    def _window(self) -> int:
        """Frames to decode ahead: a couple of seconds, at most a third of the frame cache."""
        video = self.session.video
        if video is None:
            return 0
        wanted = max(_MIN_PREFETCH, int(self._fps() * self._speed * PREFETCH_SECONDS))
        frame_bytes = max(1, video.width * video.height * 3)
        capacity = video.cache_stats().get("capacity", 0)
        fits = max(4, capacity // frame_bytes // 3) if capacity else wanted
        return min(wanted, fits)

    def _refill_prefetch(self, current: int) -> None:
        """Keep the decoder ahead: restart it from the playhead once half its window is used."""
        video = self.session.video
        if video is None:
            return
        window = self._window()
        if current + window // 2 < self._prefetch_until:
            return
        stride = self.stride
        count = max(1, window // stride)
        try:
            self._prefetch = video.prefetch(current + stride, count, stride)
        except Exception:  # a closed source: playback stops with the project anyway
            self._prefetch = None
            return
        self._prefetch_until = current + count * stride

    def _cancel_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None
        self._prefetch_until = -1

    def _fps(self) -> float:
        video = self.session.video
        fps = float(video.fps) if video is not None else 0.0
        return fps if fps > 0 else 25.0


class _Stats:
    """What playback achieved: frames shown in order, frames passed over while late."""

    def __init__(self, start_frame: int = 0) -> None:
        self.start_frame = start_frame
        self.last_frame = start_frame
        self.frames = 0
        self.dropped = 0
        self.late = 0
        self.out_of_order = 0
        self._t0 = time.monotonic()
        self._t1: float | None = None

    def shown(self, dropped: int, frame: int, late: bool = False) -> None:
        if frame <= self.last_frame:
            self.out_of_order += 1
        self.frames += 1
        self.dropped += dropped
        self.late += int(late)
        self.last_frame = frame

    def stop(self) -> None:
        self._t1 = time.monotonic()

    def report(self, target_fps: float) -> dict[str, float]:
        elapsed = (self._t1 if self._t1 is not None else time.monotonic()) - self._t0
        return {"frames": self.frames, "dropped": self.dropped, "late": self.late,
                "out_of_order": self.out_of_order,
                "first": self.start_frame, "last": self.last_frame, "elapsed_s": elapsed,
                "target_fps": target_fps, "fps": self.frames / elapsed if elapsed > 0 else 0.0}


class TransportBar(QFrame):
    """Play controls, the frame number, the time and the speed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineTransport")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(2)
        self.first = tool_button("to_start", "First frame (Home)")
        self.back = tool_button("step_back", "Previous frame (←, Shift+← for 10)")
        self.play = tool_button("play", "Play / pause (Space)")
        self.play.setIconSize(self.play.iconSize() * 1.15)
        self.forward = tool_button("step_forward", "Next frame (→, Shift+→ for 10)")
        self.last = tool_button("to_end", "Last frame (End)")
        for button in (self.first, self.back, self.play, self.forward, self.last):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and the arrows belong to the window
            layout.addWidget(button)
        layout.addSpacing(10)
        self.frame = QSpinBox()
        self.frame.setKeyboardTracking(False)
        # NoButtons hides the text under a style sheet (Qt quirk): collapse the buttons instead.
        self.frame.setStyleSheet("QSpinBox { padding-right: 6px; } "
                                 "QSpinBox::up-button, QSpinBox::down-button { width: 0px; border: none; }")
        self.frame.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.frame.setToolTip("Current frame (0-based): type a number and press Enter to go there")
        self.frame.setMinimumWidth(64)
        layout.addWidget(self.frame)
        self.count = QLabel("/ 0")
        self.count.setObjectName("hint")
        layout.addWidget(self.count)
        layout.addSpacing(12)
        self.time = QLabel("0:00.00 / 0:00.00")
        self.time.setToolTip("Time of the current frame / length of the video")
        self.time.setMinimumWidth(130)
        layout.addWidget(self.time)
        layout.addSpacing(8)
        self.speed = QComboBox()
        for speed in SPEEDS:
            self.speed.addItem(f"{speed:g}×", speed)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.speed.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        layout.addWidget(self.speed)
        layout.addSpacing(12)
        self.hover = QLabel()
        self.hover.setObjectName("hint")
        self.hover.setMinimumWidth(80)
        layout.addWidget(self.hover, 1)
        self.range = QLabel()
        self.range.setToolTip("Selected frame range (Shift+drag on the timeline); the range edits use it")
        layout.addWidget(self.range)
        self.clear_range = tool_button("clear", "Clear the range selection", size=14)
        self.clear_range.hide()
        layout.addWidget(self.clear_range)
        layout.addSpacing(6)
        self.fit = tool_button("fit", "Show all frames")
        layout.addWidget(self.fit)
        for button in (self.clear_range, self.fit):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def set_playing(self, playing: bool) -> None:
        self.play.setIcon(icon("pause" if playing else "play"))
        self.play.setToolTip("Pause (Space)" if playing else "Play (Space)")
