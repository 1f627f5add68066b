"""DAVIS video-object-segmentation metrics: region J, boundary F, per-object M/R/D, J&F.

A faithful port of the official evaluation (davisvideochallenge/davis2017-evaluation,
``davis2017/metrics.py``, ``utils.py``, ``evaluation.py``, ``davis.py``, ``results.py``),
semi-supervised task, with numpy + OpenCV only (no skimage / scipy):

- J = |M ∩ G| / |M ∪ G| over non-void pixels; J = 1 when the union is empty.
- F: boundary maps by ``seg2bmap`` (1-pixel boundaries offset half a pixel toward the
  origin), dilated with ``disk(r)``, r = ceil(0.008 * ||(H, W)||); precision/recall/F with
  the official edge cases (no boundary on one side gives F = 0, on both sides F = 1).
- Per object: the first and last frames are skipped; M = mean, R = mean(v > 0.5),
  D = mean of the first quarter minus the last (bins share their edge frames).
- Global J-Mean / F-Mean = mean over all objects of all sequences; J&F = their mean.
- The number of objects is the largest id in the first GT frame; prediction ids above it
  are an error; objects missing from a prediction score as empty masks.

Where it departs from the official code: the decay bin edges are not cast to ``uint8`` (the
official code wraps them for sequences with more than 256 evaluated frames, a bug);
``official_decay_bug=True`` reproduces it. Both agree on shorter sequences.

Folder evaluation streams frame by frame, so a long sequence never sits in memory.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from annotator.errors import FormatError

BOUND_TH = 0.008  # the official boundary tolerance, as a fraction of the image diagonal
VOID_LABEL = 255


# --- per-frame measures ------------------------------------------------------------------------
def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J (IoU) of two binary masks; 1.0 when both are empty."""
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: gt {gt.shape}, prediction {pred.shape}")
    gt = gt.astype(bool, copy=False)
    pred = pred.astype(bool, copy=False)
    if void is not None:
        keep = ~void.astype(bool, copy=False)
        inter = np.count_nonzero(gt & pred & keep)
        union = np.count_nonzero((gt | pred) & keep)
    else:
        inter = np.count_nonzero(gt & pred)
        union = np.count_nonzero(gt | pred)
    return 1.0 if union == 0 else inter / union


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """Binary boundary map with 1-pixel boundaries, offset half a pixel toward the origin.

    A pixel is a boundary if it differs from its right, bottom or bottom-right neighbour; the
    last row compares only to the right, the last column only downward, and the bottom-right
    corner is never a boundary (exactly as the official ``_seg2bmap`` with width/height unset).
    """
    seg = seg.astype(bool, copy=False)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


@lru_cache(maxsize=16)
def disk(radius: int) -> np.ndarray:
    """The flat disk footprint of ``skimage.morphology.disk`` (x² + y² <= r²), uint8."""
    grid = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(grid, grid)
    fp = ((x**2 + y**2) <= radius**2).astype(np.uint8)
    fp.setflags(write=False)
    return fp


def boundary_radius(shape: tuple[int, int], bound_th: float = BOUND_TH) -> int:
    """Tolerance in pixels: ceil(bound_th * diagonal), or bound_th itself when it is >= 1."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def boundary_f(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
               bound_th: float = BOUND_TH) -> float:
    """Boundary F-measure of ``pred`` against ``gt`` (official ``f_measure``)."""
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: gt {gt.shape}, prediction {pred.shape}")
    gt = gt.astype(bool, copy=False)
    pred = pred.astype(bool, copy=False)
    if void is not None:
        keep = ~void.astype(bool, copy=False)
        gt, pred = gt & keep, pred & keep
    fg_boundary = seg2bmap(pred)
    gt_boundary = seg2bmap(gt)
    n_fg = int(np.count_nonzero(fg_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        footprint = disk(boundary_radius(gt.shape, bound_th))
        fg_dil = cv2.dilate(fg_boundary.view(np.uint8), footprint).view(bool)
        gt_dil = cv2.dilate(gt_boundary.view(np.uint8), footprint).view(bool)
        precision = np.count_nonzero(fg_boundary & gt_dil) / n_fg
        recall = np.count_nonzero(gt_boundary & fg_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


# --- statistics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    mean: float  # M
    recall: float  # R: fraction of frames scoring above 0.5
    decay: float  # D: mean of the first quarter minus mean of the last quarter


def statistics(values: Sequence[float] | np.ndarray, official_decay_bug: bool = False) -> Stats:
    """M, R, D of per-frame values (official ``db_statistics``); NaN for an empty list."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return Stats(math.nan, math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(v))
        recall = float(np.nanmean(v > 0.5))
        ids = np.round(np.linspace(1, len(v), 5) + 1e-10) - 1
        ids = ids.astype(np.uint8 if official_decay_bug else np.int64)
        bins = [v[ids[i]:ids[i + 1] + 1] for i in range(4)]
        decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return Stats(mean, recall, decay)


# --- sequences ---------------------------------------------------------------------------------
@dataclass
class ObjectScores:
    """Per-frame J and F of one object over the evaluated frames (first and last skipped)."""

    object_id: int
    j_frames: list[float] = field(default_factory=list)
    f_frames: list[float] = field(default_factory=list)

    @property
    def j(self) -> Stats:
        return statistics(self.j_frames)

    @property
    def f(self) -> Stats:
        return statistics(self.f_frames)


@dataclass
class SequenceScores:
    name: str
    objects: dict[int, ObjectScores]
    frames: list[str] = field(default_factory=list)  # names of the evaluated frames

    @property
    def j_mean(self) -> float:
        return _nanmean([o.j.mean for o in self.objects.values()])

    @property
    def f_mean(self) -> float:
        return _nanmean([o.f.mean for o in self.objects.values()])

    @property
    def jf(self) -> float:
        return (self.j_mean + self.f_mean) / 2.0


def score_sequence(gt_labels: Iterable[np.ndarray], pred_labels: Iterable[np.ndarray],
                   name: str = "", num_objects: int | None = None,
                   frame_names: Sequence[str] | None = None) -> SequenceScores:
    """Score label maps of one sequence (HxW ints; 0 = background, 1..N objects, 255 = void in GT).

    ``gt_labels`` and ``pred_labels`` cover every frame, first and last included (both are
    skipped, as the semi-supervised protocol says); they may be generators, and only one
    frame pair is held at a time. N is the largest id in the first GT frame unless
    ``num_objects`` is given. Bool masks count as object 1.
    """
    objects: dict[int, ObjectScores] | None = None
    held: tuple[int, np.ndarray, np.ndarray] | None = None  # scored once we know it is not the last
    count = 0
    try:
        for index, (gt, pred) in enumerate(zip(gt_labels, pred_labels, strict=True)):
            gt, pred = _as_labels(gt), _as_labels(pred)
            count = index + 1
            if objects is None:
                n = int(np.where(gt == VOID_LABEL, 0, gt).max(initial=0)) if num_objects is None \
                    else num_objects
                objects = {oid: ObjectScores(oid) for oid in range(1, n + 1)}
                continue  # the first frame is given, never scored
            if held is not None:
                _score_frame(objects, held[1], held[2], name=name, frame=held[0])
            held = (index, gt, pred)
    except ValueError as exc:
        if "zip()" in str(exc):
            raise ValueError(f"sequence {name!r}: prediction and ground truth differ in length") from exc
        raise
    if objects is None:
        raise ValueError(f"sequence {name!r} has no frames")
    scored = range(1, max(1, count - 1))
    names = [frame_names[i] for i in scored] if frame_names is not None else [f"{i:05d}" for i in scored]
    return SequenceScores(name, objects, names)


def _score_frame(objects: dict[int, ObjectScores], gt: np.ndarray, pred: np.ndarray, name: str,
                 frame: int) -> None:
    if gt.shape != pred.shape:
        raise ValueError(f"sequence {name!r} frame {frame}: prediction size {pred.shape[::-1]} "
                         f"differs from the ground truth {gt.shape[::-1]}")
    n = len(objects)
    top = int(pred.max(initial=0))
    if top > n:
        raise ValueError(f"sequence {name!r} frame {frame}: prediction has object id {top}, "
                         f"but the ground truth has {n} object(s)")
    # The official reader sets GT void (255) to background before splitting objects, and its
    # semi-supervised path then passes no effective void mask: void counts as background.
    gt = np.where(gt == VOID_LABEL, 0, gt)
    for oid, scores in objects.items():
        g = gt == oid
        p = pred == oid
        scores.j_frames.append(jaccard(g, p))
        scores.f_frames.append(boundary_f(g, p))


def _as_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"label maps must be HxW, got shape {labels.shape}")
    return labels.astype(np.uint8) if labels.dtype == bool else labels


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or np.all(np.isnan(arr)):
        return math.nan
    return float(np.nanmean(arr))


# --- DAVIS folders -----------------------------------------------------------------------------
@dataclass
class EvalResult:
    sequences: dict[str, SequenceScores]

    def _object_stats(self, which: str) -> list[Stats]:
        return [getattr(o, which) for s in self.sequences.values() for o in s.objects.values()]

    @property
    def j(self) -> Stats:
        return _mean_stats(self._object_stats("j"))

    @property
    def f(self) -> Stats:
        return _mean_stats(self._object_stats("f"))

    @property
    def jf(self) -> float:
        return (self.j.mean + self.f.mean) / 2.0

    def to_json(self) -> dict[str, Any]:
        """The `eval` keys of the CLI contract, plus recall/decay and the per-object statistics."""
        j, f = self.j, self.f
        doc: dict[str, Any] = {
            "J&F": _num(self.jf), "J": _num(j.mean), "F": _num(f.mean),
            "J-Recall": _num(j.recall), "J-Decay": _num(j.decay),
            "F-Recall": _num(f.recall), "F-Decay": _num(f.decay),
            "per_sequence": {},
        }
        for name, seq in self.sequences.items():
            doc["per_sequence"][name] = {
                "J&F": _num(seq.jf), "J": _num(seq.j_mean), "F": _num(seq.f_mean),
                "frames": len(seq.frames),
                "objects": {
                    str(oid): {"J": _num(o.j.mean), "F": _num(o.f.mean),
                               "J-Recall": _num(o.j.recall), "J-Decay": _num(o.j.decay),
                               "F-Recall": _num(o.f.recall), "F-Decay": _num(o.f.decay)}
                    for oid, o in seq.objects.items()
                },
            }
        return doc


def _mean_stats(stats: list[Stats]) -> Stats:
    return Stats(_nanmean([s.mean for s in stats]), _nanmean([s.recall for s in stats]),
                 _nanmean([s.decay for s in stats]))


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def annotation_root(gt_dir: str | Path) -> Path:
    """The folder holding one subfolder per sequence: GT_DIR itself, or a DAVIS root's
    ``Annotations/480p`` when GT_DIR is the dataset root."""
    root = Path(gt_dir)
    for sub in (Path("Annotations") / "480p", Path("Annotations")):
        candidate = root / sub
        if not _has_png_sequences(root) and _has_png_sequences(candidate):
            return candidate
    return root


def list_sequences(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.png")))


def read_davis_mask(path: Path) -> np.ndarray:
    """Raw ids of a DAVIS mask PNG; a DAVIS-2016 grayscale 0/255 mask becomes ids 0/1."""
    from PIL import Image, UnidentifiedImageError

    from annotator.core.imageio import read_label_png

    labels = read_label_png(path)
    try:
        with Image.open(path) as img:  # the header only: is it a grayscale (2016-style) mask?
            mode = img.mode
    except (UnidentifiedImageError, OSError) as exc:
        raise FormatError(f"not a readable PNG ({exc})", path) from exc
    if mode == "L":
        values = np.unique(labels)
        if np.all(np.isin(values, (0, 255))):
            return (labels == 255).astype(np.uint8)
    return labels


def evaluate_folders(gt_dir: str | Path, pred_dir: str | Path,
                     sequences: Sequence[str] | None = None) -> EvalResult:
    """Evaluate DAVIS-layout folders (one subfolder of PNGs per sequence) like the official tool.

    The frames scored are the GT PNGs of each sequence except the first and last; the
    prediction must have a PNG of the same name for each of them.
    """
    gt_root = annotation_root(gt_dir)
    pred_root = Path(pred_dir)
    if not gt_root.is_dir():
        raise FormatError("ground-truth folder not found", gt_root)
    if not pred_root.is_dir():
        raise FormatError("prediction folder not found", pred_root)
    names = list(sequences) if sequences else list_sequences(gt_root)
    if not names:
        raise FormatError("no sequence folders with PNG masks", gt_root)
    results: dict[str, SequenceScores] = {}
    for name in names:
        results[name] = evaluate_sequence_folder(gt_root / name, pred_root / name)
    return EvalResult(results)


def evaluate_sequence_folder(gt_seq: Path, pred_seq: Path) -> SequenceScores:
    name = gt_seq.name
    if not gt_seq.is_dir():
        raise FormatError(f"sequence {name!r} not found in the ground truth", gt_seq)
    if not pred_seq.is_dir():
        raise FormatError(f"sequence {name!r} has no prediction folder", pred_seq)
    gt_files = sorted(gt_seq.glob("*.png"))
    if not gt_files:
        raise FormatError("no PNG masks in this ground-truth sequence", gt_seq)
    first = read_davis_mask(gt_files[0])
    first = np.where(first == VOID_LABEL, 0, first)
    objects = {oid: ObjectScores(oid) for oid in range(1, int(first.max(initial=0)) + 1)}
    for index, gt_file in enumerate(gt_files[1:-1], start=1):
        pred_file = pred_seq / gt_file.name
        if not pred_file.exists():
            raise FormatError(f"prediction frame missing (the ground truth has {gt_file.name})",
                              pred_file)
        gt = read_davis_mask(gt_file)
        pred = read_davis_mask(pred_file)
        if gt.shape != pred.shape:
            raise FormatError(f"prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth "
                              f"{gt_file} is {gt.shape[1]}x{gt.shape[0]}", pred_file)
        top = int(pred.max(initial=0))
        if top > len(objects):
            raise FormatError(f"prediction has object id {top}, but the ground truth of sequence "
                              f"{name!r} has {len(objects)} object(s) in its first frame", pred_file)
        _score_frame(objects, gt, pred, name=name, frame=index)
    return SequenceScores(name, objects, [f.stem for f in gt_files[1:-1]])


def _has_png_sequences(root: Path) -> bool:
    return root.is_dir() and any(p.is_dir() and any(p.glob("*.png")) for p in root.iterdir())
