"""Background encoding of the current frame and its neighbours while the user looks.

The image encoder is the slow half of a click (2 s per frame for SAM 2.1-T on a CPU, 11 s
for SAM ViT-B; 40-200 ms on a GPU). Running it as soon as the user lands on a frame, and
then on the frames next to it, makes the first click on the frame (and on the next or
previous frame) cost only the decoder.

One request is one job on the segmenter's engine lane (model work stays serialized per
device). A new request cancels the previous one (latest wins): a seek stops the old
neighbours at the next frame boundary, and the new frame is encoded first. The encoder call
itself is not interruptible, so a seek waits for at most one frame's encoding.

CPU budget: the encoding runs as background work (engines/run_control.background): one
thread at a lower priority, so the UI keeps a core on a 2-core laptop and wins a contended
one. Frames come through the session's own clone of the video (app/engines.py), so decoding a
neighbour never holds the lock the viewer's next frame waits on.

RAM budget: encoded frames live in the engine's in-memory LRU (``store.memory``, bounded in
MB). A request never encodes more neighbours than fit in it beside the current frame, so
encoding ahead cannot evict the frame the user is on, and its memory stays within that bound.

No Qt here: the GUI calls ``request`` on seek and ``cancel`` when the video closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

import numpy as np

from annotator.core.jobs import Job, JobContext, Workers
from annotator.engines import run_control
from annotator.engines.segmenter import Segmenter
from annotator.errors import AnnotatorError

log = logging.getLogger(__name__)


def neighbour_order(frame: int, neighbours: int, frame_count: int | None = None) -> list[int]:
    """``frame``, then frame+1, frame-1, frame+2, frame-2 ... (forward first: playback and
    "next frame" go that way), limited to 0..frame_count-1 when the count is known."""
    order = [frame]
    for step in range(1, neighbours + 1):
        order += [frame + step, frame - step]
    return [f for f in order if f >= 0 and (frame_count is None or f < frame_count)]


class Precomputer:
    """Prepare frames around the current one on the engine lane; the latest request wins."""

    def __init__(
        self,
        segmenter: Segmenter,
        workers: Workers,
        get_frame: Callable[[int], np.ndarray],
        key_of: Callable[[int], Hashable],
        lane: str | None = None,
        frame_count: int | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.workers = workers
        self.get_frame = get_frame
        self.key_of = key_of
        self.frame_count = frame_count
        self._lane = lane
        # Unique per instance: two videos open at once must not cancel each other.
        self._latest_key = f"precompute:{id(self)}"
        self._job: Job[list[tuple[int, float]]] | None = None

    @property
    def lane(self) -> str:
        return self._lane or f"engine:{getattr(self.segmenter, 'device', 'cpu')}"

    def request(self, frame: int, neighbours: int = 2) -> Job[list[tuple[int, float]]]:
        """Prepare ``frame`` and up to ``neighbours`` frames on each side, cancelling the
        previous request. The job's result (and partial results) are (frame, ms) pairs for
        the frames it encoded; frames already prepared are skipped."""
        order = neighbour_order(frame, self.within_budget(neighbours), self.frame_count)

        def work(ctx: JobContext) -> list[tuple[int, float]]:
            with run_control.background():  # one thread: the other core stays with the UI
                return encode(ctx)

        def encode(ctx: JobContext) -> list[tuple[int, float]]:
            done: list[tuple[int, float]] = []
            for index, current in enumerate(order):
                ctx.check_cancelled()  # between frames: a seek stops the old neighbours here
                key = self.key_of(current)
                if not self.segmenter.is_prepared(key):
                    try:
                        image = self.get_frame(current)
                    except IndexError:  # past the end of a video whose length was not given
                        continue
                    except AnnotatorError as exc:  # a damaged frame: skip it, the others still help
                        log.warning("precompute: frame %d skipped: %s", current, exc)
                        continue
                    ms = self.segmenter.prepare(image, key)
                    done.append((current, ms))
                    ctx.add_partial((current, ms))
                ctx.report(index + 1, len(order), f"encoding frame {current}")
            return done

        self._job = self.workers.submit_latest(self._latest_key, self.lane, f"precompute frame {frame}", work)
        return self._job

    def within_budget(self, neighbours: int) -> int:
        """``neighbours``, lowered so that the frame and its neighbours on both sides fit in the
        engine's embedding LRU (sized from the frames it holds; unknown before the first)."""
        memory = getattr(getattr(self.segmenter, "store", None), "memory", None)
        if memory is None or len(memory) == 0 or memory.nbytes <= 0:
            return neighbours
        per_frame = memory.nbytes / len(memory)
        fit = int(memory.max_bytes // per_frame) - 1  # the current frame stays
        return max(0, min(neighbours, fit // 2))

    def cancel(self) -> None:
        """Stop the outstanding request at the next frame boundary."""
        if self._job is not None:
            self._job.cancel()

    @property
    def job(self) -> Job[list[tuple[int, float]]] | None:
        return self._job
