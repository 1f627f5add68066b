"""Click-to-segment state: the prompts of one (object, frame) and the previous logits.

Each click adds a point to the object's prompt on the current frame and re-runs the
segmenter with every point so far plus the previous low-resolution logits (the prior), so
the mask is refined rather than recomputed from nothing. When the object already has a
mask on that frame (a tracked one, say), the first click refines that mask: the engine
turns it into a prior when it can.

"Commit" ends the prompt session (the mask is already saved: every click is written at
once as a locked user mask, one undo step per click); the next click starts a new session
that refines the committed mask.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.project import Project
from annotator.engines.segmenter import MaskResult, Prompt, Segmenter


@dataclass
class PromptState:
    object_id: int
    frame: int
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    logits: np.ndarray | None = None  # the last result's low-res logits: the next prior
    started_from_mask: bool = False

    def prompt(self) -> Prompt:
        box = None if self.box is None else np.array(self.box, np.float32)
        return Prompt(points=np.array(self.points, np.float32).reshape(-1, 2),
                      labels=np.array(self.labels, np.int32), box=box, prior=self.logits)


class InteractiveSegmentation:
    """Prompt sessions per (object, frame); thread-safe (clicks come from the UI thread,
    results are applied on the engine worker)."""

    def __init__(self, project: Project) -> None:
        self._project = project
        self._states: dict[tuple[int, int], PromptState] = {}
        self._lock = threading.Lock()

    def state(self, oid: int, frame: int) -> PromptState | None:
        with self._lock:
            return self._states.get((oid, frame))

    def add_point(self, oid: int, frame: int, x: float, y: float, positive: bool) -> PromptState:
        with self._lock:
            state = self._states.setdefault((oid, frame), PromptState(oid, frame))
            state.points.append((float(x), float(y)))
            state.labels.append(1 if positive else 0)
            return _copy(state)

    def set_prompt(self, oid: int, frame: int, points: list[tuple[float, float, bool]],
                   box: tuple[float, float, float, float] | None = None) -> PromptState:
        """A new prompt session with all its points (and box) at once: one prediction."""
        state = PromptState(oid, frame, [(float(x), float(y)) for x, y, _ in points],
                            [1 if positive else 0 for _, _, positive in points])
        if box is not None:
            x0, y0, x1, y1 = (float(v) for v in box)
            state.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        with self._lock:
            self._states[(oid, frame)] = state
            return _copy(state)

    def set_box(self, oid: int, frame: int, box: tuple[float, float, float, float]) -> PromptState:
        x0, y0, x1, y1 = (float(v) for v in box)
        with self._lock:
            state = self._states.setdefault((oid, frame), PromptState(oid, frame))
            state.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            return _copy(state)

    def clear(self, oid: int, frame: int) -> None:
        """Forget the prompt session (the saved mask is left as it is)."""
        with self._lock:
            self._states.pop((oid, frame), None)

    def clear_all(self) -> None:
        with self._lock:
            self._states.clear()

    def run(self, segmenter: Segmenter, image: np.ndarray, key: Hashable,
            snapshot: PromptState) -> MaskResult:
        """Segment with the prompt as it was when the click happened (runs on the engine worker)."""
        encode_ms = segmenter.prepare(image, key)
        prompt = snapshot.prompt()
        if prompt.prior is None and not snapshot.started_from_mask:
            existing = self._project.mask(snapshot.object_id, snapshot.frame)
            to_prior = getattr(segmenter, "prior_from_mask", None)
            if existing is not None and not rle_ops.is_empty(existing.rle) and to_prior is not None:
                # Refine the mask the user already has instead of starting over.
                prompt.prior = to_prior(rle_ops.decode(existing.rle), key)
        result = segmenter.predict(prompt, key)
        result.timings["encode_ms"] = float(encode_ms or 0.0)  # this call's encode (0: cached)
        return result

    def apply(self, snapshot: PromptState, result: MaskResult) -> dict:
        """Save the result as a locked user mask with the prompt, as one undo step."""
        rle = rle_ops.encode(result.mask)
        oid, frame = snapshot.object_id, snapshot.frame
        with self._project.step("Click" if snapshot.points else "Box"):
            self._project.set_mask(oid, frame, rle, "user", score=float(result.score), locked=True)
            if snapshot.points:
                x, y = snapshot.points[-1]
                self._project.add_prompt(oid, frame, "point", {"x": x, "y": y, "label": snapshot.labels[-1]})
            if snapshot.box is not None and not snapshot.points:
                self._project.add_prompt(oid, frame, "box", {"box": list(snapshot.box)})
        with self._lock:
            state = self._states.get((oid, frame))
            # Keep the newest logits only if no later click has been answered already.
            if state is not None and len(state.points) >= len(snapshot.points):
                state.logits = result.logits
                state.started_from_mask = True
        return rle


def _copy(state: PromptState) -> PromptState:
    return PromptState(state.object_id, state.frame, list(state.points), list(state.labels), state.box,
                       state.logits, state.started_from_mask)
