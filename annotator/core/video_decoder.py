"""One PyAV container and its decoder position: seek to a keyframe, decode forward, exactly.

``Decoder.run(lo, hi, keep)`` hands every decoded frame (display index, PyAV VideoFrame) to
``keep`` until frames lo..hi have all come out. A request just ahead of where the decoder
stands decodes on without a seek; otherwise it seeks to the keyframe the FrameIndex names.
Frames are matched to the index by pts, never counted, so B-frames, open GOPs and variable
frame rates come out right. A seek that lands late, or a frame that does not come out, is
retried from earlier keyframes; a frame that still does not decode raises VideoDecodeError.
(A *sequential* index, for streams whose timestamps cannot name frames, is the exception:
there frames are counted from the top of the file, and going back means starting over.)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from annotator.core.video_index import FrameIndex
from annotator.errors import VideoDecodeError, VideoOpenError

# Decoding on from the current position is preferred to a seek while it costs at most this
# many frames more than decoding from the keyframe (a seek also flushes the decoder's threads).
CONTINUE_SLACK = 8
# A frame that will not decode is retried from the start of the file only this near the start.
REWIND_LIMIT = 3000
# Decoders that read skip_frame when a packet goes in (see Decoder._decode_from).
SKIP_NONREF_CODECS = frozenset({"h264", "hevc"})
# MPEG-1/2 decoders label the first frames after a seek into an open GOP with their
# neighbours' timestamps (the leading B-frames they drop shift the labels by one). Decoding
# starts one keyframe earlier for them, and frames before the needed keyframe are not used.
WARMUP_CODECS = frozenset({"mpeg1video", "mpeg2video"})
# Frame + slice threads: frame threading is what makes 1080p decode fast.
THREAD_TYPE = "AUTO"


class Decoder:
    """One PyAV container and where its decoder stands. Not thread-safe: the owner locks.

    ``run(lo, hi, keep)`` hands every decoded frame to ``keep(index, VideoFrame)`` until the
    frames lo..hi have all come out, seeking only when decoding on from here would cost more.
    """

    def __init__(self, path: Path, index: FrameIndex | None = None) -> None:
        self.path = path
        self.index = index
        self.container: Any = None
        self.stream: Any = None
        self._frames: Iterator[tuple[int, Any]] | None = None
        self.last = -1  # display index of the last frame out of self._frames
        self.seeks = 0  # how many times it has had to seek (tests check that streaming does not)
        self._landed_late = 0  # seeks that landed past the keyframe asked for
        self._open(index.stream_index if index is not None else None)

    def _open(self, stream_index: int | None) -> None:
        import av

        try:
            self.container = av.open(str(self.path), mode="r")
        except FileNotFoundError as exc:
            raise VideoOpenError("file not found", self.path) from exc
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise VideoOpenError(_open_failure(self.path, exc), self.path) from exc
        try:
            self.stream = self._pick_stream(stream_index)
        except BaseException:
            self.container.close()
            raise
        for other in self.container.streams:
            if other.index != self.stream.index:
                other.discard = "all"  # the demuxer skips audio and subtitles entirely
        self.stream.thread_type = THREAD_TYPE

    def _pick_stream(self, stream_index: int | None) -> Any:
        if stream_index is not None:
            return self.container.streams[stream_index]
        videos = [s for s in self.container.streams.video if not (s.disposition & s.disposition.attached_pic)]
        if not videos:
            raise VideoOpenError("no video stream in the file", self.path)
        if videos[0].codec_context is None:
            raise VideoOpenError(f"no decoder for codec {videos[0].codec.name!r}", self.path)
        return videos[0]

    def close(self) -> None:
        self._frames = None
        if self.container is not None:
            self.container.close()
            self.container = None

    def rewind(self) -> None:
        """Back to the start of the file (a fresh container: always works, even where seek fails)."""
        stream_index = self.stream.index
        self.close()
        self._open(stream_index)
        self.last = -1

    def decode_one(self, frame: int) -> Any:
        got: dict[int, Any] = {}
        self.run(frame, frame, lambda i, vf: got.__setitem__(i, vf) if i == frame else None)
        return got[frame]

    def run(self, lo: int, hi: int, keep: Callable[[int, Any], None],
            cancelled: Callable[[], bool] | None = None) -> bool:
        """Decode until frames lo..hi have all gone to ``keep``; False if cancelled first."""
        index = self.index
        assert index is not None
        if self.container is None:
            raise VideoOpenError("the video is closed", self.path)
        need = lo  # the next frame of lo..hi still to come
        plan, attempt = self._attempts(need), -1  # attempt -1: decoding on from where we stand
        streaming = self._frames is not None and self.last == lo - 1  # the usual case: the next frame
        if not streaming and not self._can_continue(lo, index.keyframe_for(lo)):
            attempt = 0
            self._seek(plan[0][0], need, rewind=plan[0][1])
        while True:
            outcome = self._pump(need, hi, keep, cancelled)
            if outcome is True or outcome is False:
                return outcome
            if outcome != need:
                need, plan, attempt = outcome, self._attempts(outcome), -1
            # Frame `need` did not come out. Start again from an earlier keyframe: the seek may
            # have landed late, or the frame may be a leading picture of an open GOP.
            attempt += 1
            if attempt >= len(plan):
                self._frames = None
                raise VideoDecodeError(
                    f"frame {need} is listed in the index but the decoder does not produce it "
                    "(damaged or truncated stream)", self.path)
            self._seek(plan[attempt][0], need, rewind=plan[attempt][1])
            if cancelled is not None and cancelled():
                return False

    def _pump(self, need: int, hi: int, keep: Callable[[int, Any], None],
              cancelled: Callable[[], bool] | None) -> bool | int:
        """Pull frames: True when lo..hi are done, False if cancelled, else the missing index."""
        if self._frames is None:
            return need
        try:
            for i, vf in self._frames:
                self.last = i
                if i > need:
                    return need
                if vf.is_corrupt and i >= need:
                    raise VideoDecodeError(f"frame {i} decodes with errors (damaged stream)", self.path)
                keep(i, vf)
                if i == need:
                    need += 1
                    if need > hi:
                        return True
                if cancelled is not None and cancelled():
                    return False
        except VideoDecodeError:
            self._frames = None
            raise
        except _LandedLate:
            self._landed_late += 1
        except Exception as exc:
            self._frames = None
            raise VideoDecodeError(f"cannot decode frame {need} ({_reason(exc)})", self.path) from exc
        self._frames = None
        return need

    def _attempts(self, need: int) -> list[tuple[int, bool]]:
        """Where to start decoding for frame ``need``, in order: (keyframe, reopen the file).
        Its keyframe, then the two before it (a demuxer that seeks by dts, or only roughly, as
        MPEG-TS does, may land past the one asked for), then the top of the file, only near the
        start (decoding a long way from the top would look like a hang)."""
        if self.index.sequential:  # type: ignore[union-attr]
            return [(0, True)]  # frames are counted from the top: the only place to start
        base = self.index.keyframe_for(need)  # type: ignore[union-attr]
        if base > 0 and self.stream.codec_context.name in WARMUP_CODECS:
            base -= 1  # one interval of warm-up first (see WARMUP_CODECS)
        elif base > 0 and self._landed_late >= 2:
            base -= 1  # this demuxer's seeks land late (MPEG-TS): aim one keyframe early
        plan = [(key, False) for key in (base, base - 1, base - 2) if key >= 0]
        if need < REWIND_LIMIT:
            plan.append((0, True))
        return plan

    # --- positioning ---------------------------------------------------------------------
    def _can_continue(self, lo: int, key: int) -> bool:
        index = self.index
        assert index is not None
        if self._frames is None or self.last >= lo:
            return False
        if index.sequential:
            return True  # going back to the top would cost more
        seek_start = index.first_frame_at_or_after(int(index.key_pts[key]))
        return (lo - self.last) <= (lo - seek_start) + CONTINUE_SLACK

    def _seek(self, key: int, target: int, rewind: bool = False) -> None:
        """Position the decoder at keyframe ``key`` (position in index.key_pts) for frame ``target``.
        ``rewind`` reopens the file instead of seeking: the last resort when seeks land late."""
        import av

        index = self.index
        assert index is not None
        self._frames = None
        self.last = -1
        self.seeks += 1
        try:
            if rewind:
                self.rewind()
            else:
                self.container.seek(int(index.key_seek[key]), stream=self.stream, backward=True)
        except av.FFmpegError:
            self.rewind()  # a demuxer that cannot seek: start over from the top
        if index.sequential:
            self._frames = self._decode_counting()
            return
        # Any keyframe up to the one the target needs will do; one past it cannot reach the target.
        latest = int(index.key_pts[index.keyframe_for(target)])
        self._frames = self._decode_from(latest, int(index.pts[target]), from_top=rewind)

    def _decode_counting(self) -> Iterator[tuple[int, Any]]:
        """Sequential mode, from the top of the file: the n-th frame out is frame n."""
        count = self.index.frame_count  # type: ignore[union-attr]
        codec = self.stream.codec_context
        codec.skip_frame = "DEFAULT"
        n = 0
        for batch in self._batches(codec):
            for vf in batch:
                if n < count:
                    yield n, vf
                n += 1

    def _batches(self, codec: Any) -> Iterator[list[Any]]:
        for packet in self._packets():
            yield packet.decode()
        yield codec.decode(None)

    def _decode_from(self, key_pts: int, target_pts: int,
                     from_top: bool = False) -> Iterator[tuple[int, Any]]:
        """Frames (index, VideoFrame) in display order after a seek. Skips packets up to the
        first keyframe, and leading pictures that reference frames before it. ``key_pts``: the
        latest keyframe to accept as the start (landing past it raises _LandedLate)."""
        index = self.index
        assert index is not None
        codec = self.stream.codec_context
        floor: int | None = None
        codec.skip_frame = "DEFAULT"  # an abandoned pass may have left it skipping
        skipping = False
        may_skip = codec.name in SKIP_NONREF_CODECS
        warmup = codec.name in WARMUP_CODECS
        for packet in self._packets():
            ts = packet.pts if packet.pts is not None else packet.dts
            if floor is None:
                if not packet.is_keyframe:
                    continue
                floor = ts if ts is not None else key_pts
                if floor > key_pts:
                    raise _LandedLate
                if warmup and not from_top and floor < key_pts:
                    floor = key_pts  # the warm-up interval's own frames may carry wrong timestamps
            # Frames that are referenced by nothing and come before the target are not needed:
            # letting the decoder skip them saves much of a seek's work with B-frames. Only for
            # decoders that read skip_frame when a packet goes in (libdav1d reads it when a
            # frame comes out, several frames later, and would drop the wrong ones).
            skip = may_skip and ts is not None and ts < target_pts
            if skip != skipping:
                codec.skip_frame = "NONREF" if skip else "DEFAULT"
                skipping = skip
            yield from self._listed(packet.decode(), floor)
        if floor is None:
            return
        if skipping:
            codec.skip_frame = "DEFAULT"
        yield from self._listed(codec.decode(None), floor)  # drain the frames still in the decoder

    def _packets(self) -> Iterator[Any]:
        """The stream's packets, up to the end of the file or the first short (corrupt) packet:
        a truncated file ends there, and the frames before it still come out of the drain."""
        for packet in self.container.demux(self.stream):
            if packet.size == 0 or packet.is_corrupt:
                return
            yield packet

    def _listed(self, frames: list[Any], floor: int) -> Iterator[tuple[int, Any]]:
        """(display index, frame) of the frames the index lists (leading pictures before the
        keyframe we started from reference frames we never decoded: dropped)."""
        index = self.index
        assert index is not None
        pts, count = index.pts, index.frame_count
        for vf in frames:
            t = vf.pts if vf.pts is not None else vf.dts
            if t is None or t < floor:
                continue
            i = self.last + 1  # frames come out in display order: try the next one first
            if not (0 <= i < count and pts[i] == t):
                i = index.display_index_of(t)
            if i >= 0:
                yield i, vf


class _LandedLate(Exception):
    """The demuxer's seek went past the keyframe we asked for."""


def frame_nbytes(vf: Any) -> int:
    return sum(plane.buffer_size for plane in vf.planes)


def _reason(exc: BaseException) -> str:
    """One line: FFmpeg's own words without the errno and the repeated file name."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return str(text).replace("\n", " ")


def _open_failure(path: Path, exc: BaseException) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    if size == 0:
        return "the file is empty"
    if path.suffix.lower() in (".mp4", ".m4v", ".mov", ".3gp") and _mp4_lacks_moov(path):
        return ("no 'moov' atom (the MP4 index): the file is truncated, or its recording "
                "was never finalized")
    return f"not a readable video ({_reason(exc)})"


_MP4_FIRST_BOXES = frozenset({b"ftyp", b"free", b"skip", b"wide", b"mdat", b"pnot", b"uuid"})


def _mp4_lacks_moov(path: Path) -> bool:
    """Walk the top-level MP4 boxes: True when the file has boxes but no moov among them."""
    try:
        with open(path, "rb") as f:
            size = path.stat().st_size
            pos, seen = 0, 0
            while pos + 8 <= size and seen < 10_000:
                f.seek(pos)
                box_size, kind = struct.unpack(">I4s", f.read(8))
                if kind == b"moov":
                    return False
                if seen == 0 and kind not in _MP4_FIRST_BOXES:
                    return False  # not an MP4 at all: say nothing about moov
                if box_size == 1:
                    box_size = struct.unpack(">Q", f.read(8))[0]
                elif box_size == 0:
                    break
                if box_size < 8:
                    return False  # not an MP4 box structure: say nothing about moov
                pos += box_size
                seen += 1
            return seen > 0
    except (OSError, struct.error):
        return False
