"""Image sequences as a VideoSource: a folder of frames (natural order) or a single image.

Every image must have the same displayed size (EXIF orientation applied, as ``read_image``
shows it); the check runs at open time from the image headers, so a mixed folder fails at
once with the name of the first odd file, not halfway through a propagation.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from annotator.core.frame_cache import FrameCache
from annotator.core.video_source import VideoSource
from annotator.errors import AnnotatorError, VideoDecodeError, VideoOpenError

DEFAULT_FPS = 25.0
_EXIF_ORIENTATION = 0x0112


def natural_key(name: str) -> list[object]:
    """'frame10.png' after 'frame9.png': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    from annotator.core.imageio import IMAGE_EXTENSIONS

    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


class ImageSequence(VideoSource):
    """Frames from image files; ``frame_stem`` and ``source_name`` keep the files' own names."""

    def __init__(self, path: Path, cache_bytes: int, *, fps: float | None = None,
                 _files: list[Path] | None = None, _cache: FrameCache | None = None) -> None:
        super().__init__(path, _cache if _cache is not None else FrameCache(cache_bytes))
        if _files is None:
            if path.is_dir():
                _files = list_images(path)
                if not _files:
                    raise VideoOpenError("the folder holds no images (.png, .jpg, ...)", path)
            else:
                _files = [path]
        self._files = _files
        self.width, self.height, kinds = _common_size(_files)
        self.frame_count = len(_files)
        self.fps = float(fps) if fps else DEFAULT_FPS
        self.duration_s = self.frame_count / self.fps
        self.codec = kinds
        self.rotation = 0  # EXIF orientation is applied to the pixels already

    def _decode(self, index: int) -> np.ndarray:
        from annotator.core.imageio import read_image

        file = self._files[index]
        try:
            rgb = read_image(file)
        except AnnotatorError as exc:
            raise VideoDecodeError(f"frame {index}: {exc.reason}", file) from exc
        if rgb.shape[:2] != (self.height, self.width):
            raise VideoDecodeError(
                f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]}, the sequence is {self.width}x{self.height}",
                file)
        return np.ascontiguousarray(rgb)

    def timestamp(self, index: int) -> float:
        return self._check_index(index) / self.fps

    def index_at(self, seconds: float) -> int:
        return min(max(int(np.floor(float(seconds) * self.fps + 1e-9)), 0), self.frame_count - 1)

    def frame_stem(self, index: int) -> str:
        return self._files[self._check_index(index)].stem

    def source_name(self, index: int) -> str | None:
        return self._files[self._check_index(index)].name

    def clone(self) -> ImageSequence:
        self._check_open()
        clone = ImageSequence.__new__(ImageSequence)
        VideoSource.__init__(clone, self.path, self._cache)
        for name in ("_files", "width", "height", "frame_count", "fps", "duration_s", "codec", "rotation",
                     "_fingerprint"):
            setattr(clone, name, getattr(self, name))
        return clone


def _common_size(files: list[Path]) -> tuple[int, int, str]:
    """(width, height, format name) shared by all images, from their headers."""
    from PIL import Image, UnidentifiedImageError

    size: tuple[int, int] | None = None
    formats: set[str] = set()
    for file in files:
        try:
            with Image.open(file) as img:
                w, h = img.size
                # EXIF sits in the header of JPEG/TIFF/WebP; for PNG, getexif() would decode
                # the whole image to find a trailing chunk (47 ms a 1080p frame).
                exif = img.getexif() if img.format in ("JPEG", "MPO", "TIFF", "WEBP") else {}
                if exif.get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                    w, h = h, w  # shown turned by 90 degrees
                formats.add((img.format or file.suffix.lstrip(".")).lower())
        except (UnidentifiedImageError, OSError) as exc:
            raise VideoOpenError(f"not a readable image ({exc})", file) from exc
        if size is None:
            size = (w, h)
        elif (w, h) != size:
            raise VideoOpenError(
                f"image is {w}x{h} but {files[0].name} is {size[0]}x{size[1]}; "
                "every frame of a sequence must have the same size", file)
    assert size is not None
    return size[0], size[1], "/".join(sorted(formats))
