"""Checking segmentations read from files *before* pycocotools touches them.

pycocotools' C code trusts its input: ``decode`` of an RLE whose counts sum past h*w writes
beyond its buffer, ``toBbox`` divides by h, and ``frPyObjects`` of a polygon with huge
coordinates allocates without bound. One bad file must not crash or hang the app, so every
importer passes what it read through here and only stores RLEs that are proven well formed:
counts that are non-negative, fit in 32 bits and sum to exactly h*w.

Compressed strings are parsed in numpy, many at once (``check_compressed_many``): the LEB128-like
format of ``rleFrString`` (5 bits per char, 0x20 = more, 0x10 = sign, +48), then the delta of
every count from index 3 on against the count two places earlier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from annotator.core import masks as rle_ops

RLE = dict[str, Any]

# Longest char group the C parser handles without overflowing its int shift (6 * 5 = 30 bits):
# enough for any image below 2**29 pixels, which pycocotools itself never exceeds in practice.
_MAX_GROUP = 6
_MAX_PIXELS = 2**29
# Polygon vertices may sit a little outside the image (tools clip late); far outside is garbage.
_POLY_MARGIN = 1.0


class SegmentationError(ValueError):
    """A segmentation is malformed; the caller adds the file and the entry to the message."""


def check_size(size: Any, height: int, width: int) -> None:
    """``size`` must be ``[height, width]`` of the image it belongs to."""
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(_is_int(v) for v in size)):
        raise SegmentationError(f"RLE size must be [height, width], got {_short(size)}")
    if (int(size[0]), int(size[1])) != (height, width):
        raise SegmentationError(f"segmentation size [{int(size[0])}, {int(size[1])}] does not match "
                                f"the image ({height}x{width})")


def rle_from_segmentation(seg: Any, height: int, width: int) -> RLE:
    """A compressed-str RLE from a COCO segmentation (polygons, uncompressed or compressed RLE).

    Raises SegmentationError with the reason. Compressed strings are checked one at a time here;
    importers with many of them should batch them through ``check_compressed_many``.
    """
    if isinstance(seg, list):
        return polygons_to_rle(seg, height, width)
    if not isinstance(seg, dict):
        raise SegmentationError(f"segmentation must be polygons or an RLE dict, got {_short(seg)}")
    if "counts" not in seg or "size" not in seg:
        raise SegmentationError("RLE needs 'size' and 'counts'")
    check_size(seg["size"], height, width)
    counts = seg["counts"]
    if isinstance(counts, list):
        return uncompressed_to_rle(counts, height, width)
    if isinstance(counts, str):
        problem = check_compressed_many([counts], [(height, width)])[0]
        if problem:
            raise SegmentationError(problem)
        return {"size": [height, width], "counts": counts}
    raise SegmentationError(f"RLE counts must be a string or a list of ints, got {type(counts).__name__}")


def uncompressed_to_rle(counts: list, height: int, width: int) -> RLE:
    if not all(_is_int(c) and c >= 0 for c in counts):
        raise SegmentationError("uncompressed RLE counts must be non-negative integers")
    total = sum(int(c) for c in counts)
    if total != height * width:
        raise SegmentationError(f"uncompressed RLE counts sum to {total}, the image has {height * width} "
                                "pixels")
    if any(c >= 2**32 for c in counts):
        raise SegmentationError("an RLE count does not fit in 32 bits")
    return _normalize(rle_ops.to_coco({"size": [height, width], "counts": [int(c) for c in counts]}))


def polygons_to_rle(polygons: Any, height: int, width: int) -> RLE:
    """Rasterize COCO polygons (a list of [x1, y1, x2, y2, ...] parts) with pycocotools.

    Parts with fewer than 3 points are dropped (pycocotools would read 4 numbers as a box);
    a segmentation with no usable part is an empty mask.
    """
    from pycocotools import mask as coco_mask

    if not isinstance(polygons, list):
        raise SegmentationError(f"polygons must be a list of coordinate lists, got {_short(polygons)}")
    parts: list[list[float]] = []
    for k, part in enumerate(polygons):
        if not isinstance(part, list) or not all(_is_number(v) for v in part):
            raise SegmentationError(f"polygon part {k} must be a list of numbers")
        if len(part) % 2:
            raise SegmentationError(f"polygon part {k} has an odd number of coordinates ({len(part)})")
        if len(part) < 6:
            continue
        values = [float(v) for v in part]
        if not all(math.isfinite(v) for v in values):
            raise SegmentationError(f"polygon part {k} has a coordinate that is not finite")
        xs, ys = values[0::2], values[1::2]
        if (min(xs) < -_POLY_MARGIN * width or max(xs) > (1 + _POLY_MARGIN) * width
                or min(ys) < -_POLY_MARGIN * height or max(ys) > (1 + _POLY_MARGIN) * height):
            raise SegmentationError(f"polygon part {k} lies far outside the {width}x{height} image")
        parts.append(values)
    if not parts:
        return rle_ops.empty(height, width)
    rles = coco_mask.frPyObjects(parts, height, width)
    return _normalize(coco_mask.merge(rles))


def check_compressed_many(strings: Sequence[str], sizes: Sequence[tuple[int, int]]) -> list[str | None]:
    """For each compressed counts string: None if it is a well-formed RLE of ``size``, else why not."""
    problems: list[str | None] = [None] * len(strings)
    encoded: list[bytes] = []
    index: list[int] = []
    for i, (s, (h, w)) in enumerate(zip(strings, sizes)):
        if not (h > 0 and w > 0 and h * w <= _MAX_PIXELS):
            problems[i] = f"RLE size {h}x{w} is not a usable image size"
        elif not isinstance(s, str) or not s:
            problems[i] = "RLE counts string is empty"
        elif not s.isascii():
            problems[i] = "RLE counts string has non-ASCII characters"
        else:
            encoded.append(s.encode("ascii"))
            index.append(i)
    if encoded:
        for j, problem in enumerate(_check_batch(encoded, [sizes[i] for i in index])):
            problems[index[j]] = problem
    return problems


def _check_batch(strings: list[bytes], sizes: list[tuple[int, int]]) -> list[str | None]:
    problems: list[str | None] = [None] * len(strings)
    lengths = np.fromiter((len(s) for s in strings), np.int64, len(strings))
    starts = np.zeros(len(strings), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    chars = np.frombuffer(b"".join(strings), np.uint8) - np.uint8(48)  # below '0' wraps to >= 208

    bad = chars > 63
    if bad.any():
        owners = np.searchsorted(starts, np.flatnonzero(bad), side="right") - 1
        for i in np.unique(owners):
            problems[i] = "RLE counts string has characters outside '0'..'o'"
        return _recheck(strings, sizes, problems)
    final = chars < 32  # no "more" bit: the char ends a count
    for i in np.flatnonzero(~final[starts + lengths - 1]):
        problems[i] = "RLE counts string ends in the middle of a number"
    if any(problems):
        return _recheck(strings, sizes, problems)

    ends = np.flatnonzero(final)
    first = np.searchsorted(ends, starts)  # index of each string's first count
    per_string = np.diff(np.append(first, ends.size))
    owner = np.repeat(np.arange(len(strings)), per_string)
    # The last char of a count holds a signed 5-bit digit (0x10 is the sign); earlier chars hold
    # unsigned 5-bit digits. Nearly every count is one char, so those are done in one pass.
    last = chars[ends]
    values = (last & 0x0F).astype(np.int64) - (last & 0x10)
    group_start = np.empty_like(ends)
    group_start[0] = 0
    group_start[1:] = ends[:-1] + 1
    long_groups = np.flatnonzero(ends != group_start)
    if long_groups.size:
        length = ends[long_groups] - group_start[long_groups] + 1
        if length.max() > _MAX_GROUP:
            for i in np.unique(owner[long_groups[length > _MAX_GROUP]]):
                problems[i] = "RLE counts string has a number too large for an image"
            return _recheck(strings, sizes, problems)
        big = values[long_groups] << (5 * (length - 1))
        for digit in range(int(length.max()) - 1):
            sel = length - 1 > digit
            big[sel] += (chars[group_start[long_groups[sel]] + digit] & 0x1F).astype(np.int64) << (5 * digit)
        values[long_groups] = big

    # Delta coding: count i (i >= 3) was stored as cnt[i] - cnt[i-2], so counts are two interleaved
    # running sums per string: over the odd indices from 1 and over the even indices from 2.
    local = np.arange(ends.size) - np.repeat(first, per_string)
    counts = values.copy()
    for parity, begin in ((1, 1), (0, 2)):
        chain = (local & 1 == parity) & (local >= begin)
        running = np.cumsum(np.where(chain, values, 0))
        before = np.where(first > 0, running[first - 1], 0)
        np.subtract(running, np.repeat(before, per_string), out=counts, where=chain)

    broken = (counts < 0) | (counts >= 2**32)
    if broken.any():
        for i in np.unique(owner[broken]):
            problems[i] = "RLE counts string decodes to a negative or huge run"
    totals = np.add.reduceat(counts, first)
    for i, (h, w) in enumerate(sizes):
        if problems[i] is None and int(totals[i]) != h * w:
            problems[i] = (f"RLE runs cover {int(totals[i])} pixels but size [{h}, {w}] has {h * w} "
                           "(counts and size do not match)")
    return problems


def _recheck(strings: list[bytes], sizes: list[tuple[int, int]],
             problems: list[str | None]) -> list[str | None]:
    """Check the strings not yet found broken on their own (only bad files come here)."""
    keep = [i for i, p in enumerate(problems) if p is None]
    if keep:
        for j, problem in zip(keep, _check_batch([strings[i] for i in keep], [sizes[i] for i in keep])):
            problems[j] = problem
    return problems


def _normalize(rle: dict) -> RLE:
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
