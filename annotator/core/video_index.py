"""The frame index of a video file: which timestamps exist in display order, and where to seek.

Built by demuxing every packet of the video stream without decoding (fast: no pixels), then
kept on disk under ``paths.cache_dir()/frame-index`` keyed by the file's content fingerprint,
so a long video is scanned once.

Rules, and why:
- A frame's timestamp is its packet pts, or the dts where a container leaves pts out.
- Packets the demuxer flags *discard* (the part an MP4 edit list cuts away) are dropped: the
  decoder never shows them.
- Packets before the first keyframe, and frames whose pts precede it (open-GOP leading
  pictures at the start), are dropped: no decoder can produce them.
- A corrupt (short) packet ends the index: that is where a truncated file stops being
  complete. A demux error does the same, and the index says ``truncated``.
- Where timestamps cannot name frames (raw elementary streams, MPEG program streams, packets
  sharing a pts), the index is *sequential*: frame i is the i-th frame decoded from the top.
- Sorting the pts gives display order, which differs from decode order with B-frames.
- To show the frame with pts ``p``, decoding starts at the latest keyframe (in decode order)
  whose pts is <= p. With open GOPs (HEVC CRA, x264 open-gop) the leading pictures of a
  keyframe come after it in decode order but before it in display order; this rule starts
  them from the keyframe before, so they decode from their real references.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from annotator import paths
from annotator.core.atomic import atomic_write
from annotator.errors import VideoOpenError

log = logging.getLogger(__name__)

INDEX_VERSION = 4  # bump whenever scan() changes what it lists
_FINGERPRINT_CHUNK = 1 << 20  # 1 MiB from each end


def fingerprint_path(path: str | Path) -> str:
    """Content fingerprint of a video file or a frame folder (hex sha256).

    File: size, the first and the last MiB. Folder: the sorted image names with their sizes,
    and the bytes of the first image. Stable across moves and copies, so a project can find
    its video again; cheap even for a many-GB file.
    """
    from annotator.core.imageio import IMAGE_EXTENSIONS

    path = Path(path)
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            for p in files:
                digest.update(f"{p.name}\0{p.stat().st_size}\n".encode())
            if files:
                digest.update(files[0].read_bytes())
            return digest.hexdigest()
        size = path.stat().st_size
        digest.update(f"{size}\n".encode())
        with open(path, "rb") as f:
            digest.update(f.read(_FINGERPRINT_CHUNK))
            if size > _FINGERPRINT_CHUNK:
                f.seek(max(_FINGERPRINT_CHUNK, size - _FINGERPRINT_CHUNK))
                digest.update(f.read(_FINGERPRINT_CHUNK))
    except FileNotFoundError as exc:
        raise VideoOpenError("file not found", path) from exc
    except OSError as exc:
        raise VideoOpenError(f"cannot read ({exc.strerror or exc})", path) from exc
    return digest.hexdigest()


@dataclass(frozen=True)
class FrameIndex:
    """Display-order timestamps and the keyframes to seek to, for one video stream."""

    pts: np.ndarray  # int64, display order: pts[i] is frame i
    key_pts: np.ndarray  # int64, pts of each keyframe, in decode order (ascending)
    key_seek: np.ndarray  # int64, timestamp to hand container.seek for that keyframe
    time_base: Fraction
    stream_index: int
    last_duration: int  # duration of the last frame in time_base units (0 if unknown)
    truncated: bool = False
    # Sequential mode: pts are frame numbers 0..n-1, frames are counted as the decoder puts them
    # out from the top of the file (streams whose timestamps cannot name frames).
    sequential: bool = False

    @property
    def frame_count(self) -> int:
        return len(self.pts)

    def keyframe_for(self, frame: int) -> int:
        """Position in key_pts of the keyframe to start decoding from to reach ``frame``."""
        return max(0, int(np.searchsorted(self.key_pts, self.pts[frame], side="right")) - 1)

    def display_index_of(self, pts: int) -> int:
        """Frame index of a pts, or -1 if no listed frame has it."""
        i = int(np.searchsorted(self.pts, pts))
        return i if i < len(self.pts) and int(self.pts[i]) == pts else -1

    def first_frame_at_or_after(self, pts: int) -> int:
        return int(np.searchsorted(self.pts, pts))

    def seconds(self, frame: int) -> float:
        return float((int(self.pts[frame]) - int(self.pts[0])) * self.time_base)

    def duration_s(self) -> float:
        if not len(self.pts):
            return 0.0
        span = int(self.pts[-1]) - int(self.pts[0]) + self.last_duration
        return float(span * self.time_base)


def scan(container: object, stream: object, path: Path) -> FrameIndex:
    """Demux every packet of ``stream`` (no decoding) and build its FrameIndex."""
    import av

    pts_list: list[int] = []
    keys: list[tuple[int, int]] = []  # (pts, seek timestamp)
    last_duration = 0
    truncated = False
    started = False  # a keyframe has been seen
    counted = 0  # shown packets from the first keyframe on, timestamps or not (for sequential mode)
    untimed = 0  # ... of which carry neither pts nor dts
    try:
        for packet in container.demux(stream):  # type: ignore[attr-defined]
            if packet.size == 0:  # the flush packet PyAV adds at the end
                continue
            if packet.is_corrupt:
                truncated = True
                break
            if not packet.is_keyframe and not started:
                continue  # before the first keyframe: undecodable
            started = True
            ts = packet.pts if packet.pts is not None else packet.dts
            if packet.is_keyframe and ts is not None:
                # Seek by the keyframe's pts: MP4/MOV and Matroska seek by presentation time
                # (a dts would land one keyframe early with B-frames). Where a demuxer seeks by
                # dts instead, pts >= dts can only land on this keyframe or an earlier one.
                # A discarded keyframe (before an edit list's start: a trimmed phone video)
                # still counts: the frames after it are decoded from it.
                keys.append((ts, ts))
            if packet.is_discard:
                continue
            counted += 1
            if ts is None:
                untimed += 1
                continue
            pts_list.append(ts)
            last_duration = packet.duration or 0
    except av.FFmpegError as exc:
        log.warning("%s: demux stopped early (%s); the frame index ends there", path, exc)
        truncated = True
    if not counted:
        raise VideoOpenError("no decodable video frames (no keyframe found)", path)
    pts = np.unique(np.asarray(pts_list, dtype=np.int64))  # sorted = display order
    format_name = str(getattr(getattr(container, "format", None), "name", ""))
    if untimed or len(pts) != len(pts_list) or format_name in SEQUENTIAL_FORMATS:
        reason = ("packets without timestamps" if untimed else "packets sharing a timestamp"
                  if len(pts) != len(pts_list) else f"{format_name!r} container")
        log.warning("%s: %s; frames are counted from the start, and seeking backward decodes "
                    "from the top of the file (slow on long videos; remuxing to MP4/MKV avoids it)",
                    path, reason)
        return _sequential_index(stream, counted, truncated)
    if not keys or not len(pts):
        raise VideoOpenError("no decodable video frames (no keyframe found)", path)
    pts = pts[pts >= keys[0][0]]  # leading pictures of the first keyframe cannot be decoded
    key_pts = np.asarray([k[0] for k in keys], dtype=np.int64)
    key_seek = np.asarray([k[1] for k in keys], dtype=np.int64)
    # Keyframes in decode order have rising pts in every stream we know; keep it true anyway
    # so searchsorted stays valid (a keyframe out of order is simply not used for seeking).
    keep = np.concatenate([[True], key_pts[1:] > np.maximum.accumulate(key_pts)[:-1]])
    time_base = stream.time_base or Fraction(1, 1)  # type: ignore[attr-defined]
    return FrameIndex(pts, key_pts[keep], key_seek[keep], Fraction(time_base),
                      int(stream.index), int(last_duration), truncated)  # type: ignore[attr-defined]


# Containers whose timestamps cannot be trusted to name frames: MPEG program streams (the
# parser interpolates missing pts, and MPEG-1/2 decoders relabel frames after a seek) and raw
# elementary streams (no timestamps at all).
SEQUENTIAL_FORMATS = frozenset({"mpeg", "mpegvideo", "h264", "hevc", "m4v", "cavsvideo", "vc1", "obu"})


def _sequential_index(stream: object, count: int, truncated: bool) -> FrameIndex:
    """Frame i is the i-th frame the decoder puts out from the top of the file (the truth for
    any stream, whatever its timestamps say); its time is i / frame rate."""
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None) or 25
    time_base = 1 / Fraction(rate).limit_denominator(100_000)
    pts = np.arange(count, dtype=np.int64)
    zero = np.zeros(1, dtype=np.int64)
    return FrameIndex(pts, zero, zero, time_base, int(stream.index), 1,  # type: ignore[attr-defined]
                      truncated, sequential=True)


def _cache_file(fingerprint: str, stream_index: int) -> Path:
    return paths.cache_dir() / "frame-index" / f"{fingerprint}-s{stream_index}-v{INDEX_VERSION}.npz"


def load_cached(fingerprint: str, stream_index: int) -> FrameIndex | None:
    """The index saved for this content, or None (missing or unreadable: it is rebuilt)."""
    file = _cache_file(fingerprint, stream_index)
    if not file.exists():
        return None
    try:
        with np.load(file) as data:
            meta = data["meta"]
            return FrameIndex(
                pts=data["pts"].astype(np.int64),
                key_pts=data["key_pts"].astype(np.int64),
                key_seek=data["key_seek"].astype(np.int64),
                time_base=Fraction(int(meta[0]), int(meta[1])),
                stream_index=int(meta[2]),
                last_duration=int(meta[3]),
                truncated=bool(meta[4]),
                sequential=bool(meta[5]),
            )
    except (OSError, KeyError, ValueError, IndexError, ZeroDivisionError) as exc:
        log.debug("ignoring unreadable frame-index cache %s: %s", file, exc)
        return None


def save_cached(fingerprint: str, index: FrameIndex) -> None:
    """Best effort: a cache that cannot be written costs a rescan next time, nothing else."""
    file = _cache_file(fingerprint, index.stream_index)
    meta = np.asarray([index.time_base.numerator, index.time_base.denominator, index.stream_index,
                       index.last_duration, int(index.truncated), int(index.sequential)], dtype=np.int64)
    try:
        os.makedirs(file.parent, exist_ok=True)
        with atomic_write(file) as f:
            np.savez(f, pts=index.pts, key_pts=index.key_pts, key_seek=index.key_seek, meta=meta)
    except Exception as exc:  # any failure here only loses the cache
        log.debug("could not save frame-index cache %s: %s", file, exc)
