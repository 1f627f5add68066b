"""Image files: RGB read/write and DAVIS-style label PNGs, written atomically.

Label PNGs are single-channel indexed images (mode "P") whose pixel value is the object id
(0 = background, 255 = void) with the PASCAL VOC / DAVIS palette. Readers keep the raw
indices and never convert to RGB. DAVIS-2016 masks are grayscale 0/255 (one object);
``read_label_png`` returns them as they are, callers map 255 -> 1 where that is meant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from annotator.core.atomic import atomic_write
from annotator.errors import FormatError, OutputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def davis_palette() -> np.ndarray:
    """The 256x3 PASCAL VOC bit-interleaved colour map used by DAVIS (index 255 is (224,224,192))."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    return palette


def read_image(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB (EXIF orientation applied, as a viewer would show it)."""
    from PIL import ImageOps

    path = Path(path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError as exc:
        raise FormatError("file not found", path) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise FormatError(f"not a readable image ({exc})", path) from exc


def write_image(path: str | Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB image; the format follows the extension (.png, .jpg ...). Atomic."""
    path = Path(path)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    suffix = path.suffix.lower()
    options = {"quality": quality} if suffix in (".jpg", ".jpeg") else {}
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise OutputError(f"unknown image extension {path.suffix!r}", path)
    with atomic_write(path) as f:
        image.save(f, format=fmt, **options)


def write_label_png(path: str | Path, labels: np.ndarray) -> None:
    """Write an HxW uint8 label map as an indexed PNG with the DAVIS palette. Atomic."""
    path = Path(path)
    if labels.ndim != 2:
        raise ValueError(f"labels must be HxW, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        if labels.size and int(labels.max()) > 255:
            raise OutputError("object ids above 255 do not fit a palette PNG", path)
        labels = labels.astype(np.uint8)
    image = Image.fromarray(labels, mode="P")
    image.putpalette(davis_palette().ravel().tolist())
    with atomic_write(path) as f:
        image.save(f, format="PNG")


def read_label_png(path: str | Path) -> np.ndarray:
    """HxW uint8 raw indices of a palette or grayscale PNG (never converted through RGB)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.mode in ("P", "L"):
                return np.array(img, dtype=np.uint8)
            if img.mode in ("1", "I", "I;16", "I;16B", "I;16L"):
                return np.array(img).astype(np.uint8)
            if img.mode in ("RGB", "RGBA", "LA"):
                # An RGB mask is read as "non-black = object 1", the only safe reading.
                arr = np.array(img.convert("RGB"))
                return (arr.max(axis=2) > 0).astype(np.uint8)
            raise FormatError(f"unsupported mask image mode {img.mode!r}", path)
    except FileNotFoundError as exc:
        raise FormatError("file not found", path) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise FormatError(f"not a readable PNG ({exc})", path) from exc
