"""Writers of small test videos whose frames encode their own index.

Each frame shows the Gray code of its index as a 4x4 grid of black/white blocks (16 bits).
Large flat blocks survive any codec at any quality, and consecutive frames differ in one
block only, so encoders use real P/B prediction. ``read_index`` turns a decoded frame back
into its index, or -1 when a block is neither black nor white (a garbage or blended frame).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

# SVT-AV1 prints its whole configuration to stderr unless told to keep to errors.
os.environ.setdefault("SVT_LOG", "1")

import av
import numpy as np
from PIL import Image

GRID = 4  # GRID x GRID blocks = 16 bits


def index_image(index: int, width: int, height: int) -> np.ndarray:
    """HxWx3 uint8 RGB whose blocks spell the Gray code of ``index`` (bit 0 top-left, raster order)."""
    gray = index ^ (index >> 1)
    img = np.zeros((height, width, 3), np.uint8)
    for bit in range(GRID * GRID):
        if (gray >> bit) & 1:
            r, c = divmod(bit, GRID)
            img[r * height // GRID:(r + 1) * height // GRID, c * width // GRID:(c + 1) * width // GRID] = 255
    return img


def read_index(rgb: np.ndarray) -> int:
    """The index a frame of ``index_image`` encodes; -1 if any block is ambiguous."""
    height, width = rgb.shape[:2]
    luma = rgb.astype(np.float32).mean(axis=2)
    gray = 0
    for bit in range(GRID * GRID):
        r, c = divmod(bit, GRID)
        # The block's centre half: block edges blur under chroma subsampling and DCT.
        y0, y1 = r * height // GRID, (r + 1) * height // GRID
        x0, x1 = c * width // GRID, (c + 1) * width // GRID
        dy, dx = (y1 - y0) // 4, (x1 - x0) // 4
        mean = float(luma[y0 + dy:y1 - dy, x0 + dx:x1 - dx].mean())
        if 60 < mean < 195:
            return -1
        if mean >= 195:
            gray |= 1 << bit
    index, shift = gray, gray >> 1
    while shift:  # Gray code back to binary
        index ^= shift
        shift >>= 1
    return index


# Encoder settings per codec: a fixed keyframe interval, fast presets, quiet logs.
def _codec_options(codec: str, gop: int, bframes: int) -> dict[str, str]:
    if codec == "libx264":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"
        if bframes:
            params += ":b-adapt=0"  # force B-frames even where x264 would skip them
        return {"preset": "ultrafast" if not bframes else "veryfast", "x264-params": params, "crf": "18"}
    if codec == "libx265":
        return {"preset": "ultrafast", "crf": "20",
                "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:log-level=error"}
    if codec == "libvpx-vp9":
        return {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0", "g": str(gop)}
    if codec == "libsvtav1":
        return {"preset": "12", "crf": "30", "svtav1-params": f"keyint={gop}:lp=1"}
    if codec in ("mpeg4", "mjpeg"):
        return {"q:v": "3"} if codec == "mpeg4" else {}
    return {}


def write_video(
    path: str | Path,
    num_frames: int = 48,
    *,
    width: int = 160,
    height: int = 96,
    fps: int = 25,
    codec: str = "libx264",
    gop: int = 12,
    bframes: int = 0,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write an index-encoding video. ``width``/``height`` are the *displayed* size.

    ``pts`` (with ``time_base``) gives each frame its own timestamp: a variable frame rate.
    ``rotation`` is clockwise degrees for display, as phones write it (the "rotate" tag):
    the stored frames are turned the other way, so the displayed frames read correctly.
    """
    path = Path(path)
    stored_w, stored_h = (height, width) if rotation in (90, 270) else (width, height)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=_codec_options(codec, gop, bframes))
        stream.width, stream.height, stream.pix_fmt = stored_w, stored_h, pix_fmt
        stream.codec_context.gop_size = gop
        if bframes and codec not in ("libx264", "libx265"):
            stream.codec_context.max_b_frames = bframes
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        if rotation:
            # PyAV takes counter-clockwise degrees (as VideoFrame.rotation reads them back).
            stream.set_display_rotation(-rotation)
        for i in range(num_frames):
            display = index_image(i, width, height)
            stored = np.ascontiguousarray(np.rot90(display, k=rotation // 90)) if rotation else display
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def vfr_pts(num_frames: int, seed: int = 0) -> list[int]:
    """Millisecond timestamps with uneven gaps (20..120 ms), as a phone writes in low light."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([20, 33, 40, 67, 120], size=num_frames - 1)
    return [0, *np.cumsum(gaps).astype(int).tolist()]


def write_vfr_video(path: str | Path, num_frames: int = 48, **kwargs: object) -> tuple[Path, list[int]]:
    """A variable-frame-rate H.264 file (time base 1/1000); returns the path and the pts written."""
    pts = vfr_pts(num_frames)
    out = write_video(path, num_frames, pts=pts, time_base=Fraction(1, 1000), **kwargs)  # type: ignore[arg-type]
    return out, pts


def write_image_folder(folder: str | Path, num_frames: int = 12, *, width: int = 160, height: int = 96,
                       ext: str = ".png", names: Sequence[str] | None = None) -> Path:
    """A folder of index-encoding images named ``frame1.png, frame2.png, ... frame10.png``
    (natural order differs from plain string order from 10 on), or ``names`` if given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else [f"frame{i + 1}{ext}" for i in range(num_frames)]
    for i, name in enumerate(names):
        Image.fromarray(index_image(i, width, height)).save(folder / name)
    return folder
