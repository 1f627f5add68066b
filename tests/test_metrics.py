"""DAVIS J/F metrics: edge cases of the official formulas, golden numbers of the official tool,
and clear errors for bad folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core import metrics as m
from annotator.core.imageio import write_label_png
from annotator.errors import FormatError

SEQS = ("car-shadow", "blackswan", "bmx-trees")


# --- per-frame measures ----------------------------------------------------------------------------
def test_jaccard_edge_cases_and_value() -> None:
    empty = np.zeros((10, 10), bool)
    a = empty.copy()
    a[2:6, 2:6] = True  # 16 px
    b = empty.copy()
    b[4:8, 4:8] = True  # 16 px, 4 shared
    assert m.jaccard(empty, empty) == 1.0  # official: J = 1 when the union is empty
    assert m.jaccard(a, empty) == 0.0
    assert m.jaccard(a, a) == 1.0
    assert m.jaccard(a, b) == pytest.approx(4 / 28)
    void = empty.copy()
    void[4:6, 4:8] = True  # void pixels count in neither the intersection nor the union
    inter = np.count_nonzero(a & b & ~void)
    union = np.count_nonzero((a | b) & ~void)
    assert m.jaccard(a, b, void) == pytest.approx(inter / union)
    with pytest.raises(ValueError, match="shapes differ"):
        m.jaccard(a, np.zeros((5, 5), bool))


def test_seg2bmap_matches_the_official_definition() -> None:
    seg = np.zeros((5, 6), bool)
    seg[1:3, 1:4] = True
    b = m.seg2bmap(seg)
    # A pixel differs from its right, bottom or bottom-right neighbour: the boundary sits on the
    # object's own top-left side and on the background just left of / above it (half-pixel shift).
    expected = np.array([
        [1, 1, 1, 1, 0, 0],
        [1, 0, 0, 1, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ], bool)
    assert np.array_equal(b, expected)
    # Last row/column compare only along the border, and the corner is never a boundary.
    full = np.ones((3, 3), bool)
    assert not m.seg2bmap(full).any()
    corner = np.zeros((3, 3), bool)
    corner[2, 2] = True
    bc = m.seg2bmap(corner)
    assert bc[2, 1] and bc[1, 2] and not bc[2, 2]


def test_disk_is_skimage_disk() -> None:
    assert np.array_equal(m.disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    assert np.array_equal(m.disk(2), [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1],
                                      [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]])
    d8 = m.disk(8)
    assert d8.shape == (17, 17) and d8.dtype == np.uint8
    assert d8[8, 0] == 1 and d8[0, 0] == 0 and d8[2, 2] == 0  # 6²+6² = 72 > 64
    assert m.boundary_radius((480, 854)) == 8  # ceil(0.008 · 979.7) = ceil(7.84)
    assert m.boundary_radius((480, 854), bound_th=3) == 3


def test_boundary_f_edge_cases() -> None:
    empty = np.zeros((60, 80), bool)
    square = empty.copy()
    square[20:40, 20:50] = True
    assert m.boundary_f(empty, empty) == 1.0  # no boundary on either side
    assert m.boundary_f(square, empty) == 0.0  # P=1, R=0
    assert m.boundary_f(empty, square) == 0.0  # P=0, R=1
    assert m.boundary_f(square, square) == 1.0
    r = m.boundary_radius(square.shape)
    near = np.roll(square, r, axis=1)  # within the tolerance: every boundary pixel still matches
    assert m.boundary_f(square, near) == 1.0
    far = np.roll(square, 3 * r, axis=1)
    assert 0.0 < m.boundary_f(square, far) < 1.0


def test_statistics_mean_recall_decay() -> None:
    values = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    s = m.statistics(values)
    assert s.mean == pytest.approx(values.mean())
    assert s.recall == pytest.approx(5 / 8)
    # Bin edges round(linspace(1, 8, 5) + 1e-10) - 1 = [0, 2, 4, 5, 7]; bins share edges.
    assert s.decay == pytest.approx(np.mean(values[0:3]) - np.mean(values[5:8]))
    assert all(math.isnan(v) for v in (m.statistics([]).mean, m.statistics([]).decay))


def test_official_decay_bug_only_matters_past_256_frames() -> None:
    short = np.linspace(1.0, 0.0, 200)
    assert m.statistics(short).decay == m.statistics(short, official_decay_bug=True).decay
    long = np.linspace(1.0, 0.0, 300)
    right = m.statistics(long).decay
    buggy = m.statistics(long, official_decay_bug=True).decay
    assert right == pytest.approx(np.mean(long[:76]) - np.mean(long[224:]))
    assert buggy != pytest.approx(right)  # uint8 edges wrap: 299 becomes 43


# --- sequences in memory -----------------------------------------------------------------------------
def test_score_sequence_skips_first_and_last_and_zero_fills_missing_objects() -> None:
    gt = []
    for t in range(5):
        lab = np.zeros((40, 40), np.uint8)
        lab[5:15, 5 + t:15 + t] = 1
        lab[25:35, 20:30] = 2
        gt.append(lab)
    pred = [np.where(g == 1, 1, 0).astype(np.uint8) for g in gt]  # object 2 never predicted
    pred[0][:] = 0  # the first and last frames are not scored: garbage there changes nothing
    pred[-1][:] = 1
    seq = m.score_sequence(iter(gt), iter(pred), name="toy")
    assert sorted(seq.objects) == [1, 2]
    assert seq.frames == ["00001", "00002", "00003"]
    assert seq.objects[1].j_frames == [1.0, 1.0, 1.0]
    assert seq.objects[2].j_frames == [0.0, 0.0, 0.0]
    assert seq.objects[2].f_frames == [0.0, 0.0, 0.0]
    assert seq.j_mean == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in length"):
        m.score_sequence(gt, pred[:-1], name="toy")
    with pytest.raises(ValueError, match="object id 3"):
        m.score_sequence(gt, [np.full((40, 40), 3, np.uint8)] * 5, name="toy")


# --- folders ---------------------------------------------------------------------------------------------
def _write_seq(root: Path, name: str, labels: list[np.ndarray], grayscale_2016: bool = False) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for i, lab in enumerate(labels):
        if grayscale_2016:
            Image.fromarray((lab > 0).astype(np.uint8) * 255, mode="L").save(folder / f"{i:05d}.png")
        else:
            write_label_png(folder / f"{i:05d}.png", lab)


def _toy_labels(n: int = 6, shift: int = 0) -> list[np.ndarray]:
    out = []
    for t in range(n):
        lab = np.zeros((48, 64), np.uint8)
        lab[10:30, 8 + 2 * t + shift:28 + 2 * t + shift] = 1
        out.append(lab)
    return out


def test_folders_grayscale_2016_gt_and_palette_predictions(tmp_path: Path) -> None:
    gt = _toy_labels()
    _write_seq(tmp_path / "gt", "toy", gt, grayscale_2016=True)
    _write_seq(tmp_path / "pred", "toy", gt)
    result = m.evaluate_folders(tmp_path / "gt", tmp_path / "pred")
    doc = result.to_json()
    assert doc["J&F"] == 1.0 and doc["J"] == 1.0 and doc["F"] == 1.0
    assert doc["per_sequence"]["toy"]["objects"]["1"] == pytest.approx(
        {"J": 1.0, "F": 1.0, "J-Recall": 1.0, "J-Decay": 0.0, "F-Recall": 1.0, "F-Decay": 0.0})
    # A grayscale 0/255 prediction is read as object 1 too.
    _write_seq(tmp_path / "pred16", "toy", _toy_labels(shift=1), grayscale_2016=True)
    shifted = m.evaluate_folders(tmp_path / "gt", tmp_path / "pred16").to_json()
    assert 0.8 < shifted["J"] < 1.0


def test_folder_errors_name_the_file(tmp_path: Path) -> None:
    gt = _toy_labels()
    _write_seq(tmp_path / "gt", "toy", gt)
    pred = tmp_path / "pred"
    _write_seq(pred, "toy", gt)
    (pred / "toy" / "00002.png").unlink()
    with pytest.raises(FormatError, match=r"00002\.png.*missing"):
        m.evaluate_folders(tmp_path / "gt", pred)
    (pred / "toy" / "00002.png").write_bytes(b"not a png")
    with pytest.raises(FormatError, match=r"00002\.png.*not a readable"):
        m.evaluate_folders(tmp_path / "gt", pred)
    write_label_png(pred / "toy" / "00002.png", np.zeros((20, 20), np.uint8))
    with pytest.raises(FormatError, match=r"00002\.png.*20x20.*64x48"):
        m.evaluate_folders(tmp_path / "gt", pred)
    write_label_png(pred / "toy" / "00002.png", np.full((48, 64), 2, np.uint8))
    with pytest.raises(FormatError, match=r"00002\.png.*object id 2.*1 object"):
        m.evaluate_folders(tmp_path / "gt", pred)
    _write_seq(tmp_path / "gt", "toy2", gt)
    with pytest.raises(FormatError, match=r"toy2.*no prediction folder"):
        m.evaluate_folders(tmp_path / "gt", pred, sequences=["toy2"])
    with pytest.raises(FormatError, match=r"other.*not found in the ground truth"):
        m.evaluate_folders(tmp_path / "gt", pred, sequences=["other"])
    with pytest.raises(FormatError, match="prediction folder not found"):
        m.evaluate_folders(tmp_path / "gt", tmp_path / "nowhere")


# --- the official tool's numbers on real data ------------------------------------------------------------
@pytest.fixture
def reference(davis_dir: Path) -> dict:
    return json.loads((davis_dir / "reference" / "davis-eval-official.json").read_text())


@pytest.mark.davis
def test_reproduces_official_osvos_numbers(davis_dir: Path, reference: dict) -> None:
    result = m.evaluate_folders(davis_dir, davis_dir / "results-osvos-davis2017", ["car-shadow", "blackswan"])
    doc = result.to_json()
    ref = reference["osvos_raw_single_object"]
    assert doc["J&F"] == pytest.approx(0.940731, abs=1e-4)
    for ours, theirs in (("J&F", "J&F-Mean"), ("J", "J-Mean"), ("F", "F-Mean"), ("J-Recall", "J-Recall"),
                         ("J-Decay", "J-Decay"), ("F-Recall", "F-Recall"), ("F-Decay", "F-Decay")):
        assert doc[ours] == pytest.approx(ref["global"][theirs], abs=1e-5), ours
    for seq in ("car-shadow", "blackswan"):
        obj = doc["per_sequence"][seq]["objects"]["1"]
        assert obj["J"] == pytest.approx(ref["per_object"][f"{seq}_1"]["J-Mean"], abs=1e-5)
        assert obj["F"] == pytest.approx(ref["per_object"][f"{seq}_1"]["F-Mean"], abs=1e-5)


@pytest.mark.davis
def test_reproduces_official_per_frame_values(davis_dir: Path, reference: dict) -> None:
    ref = reference["car-shadow_per_frame"]
    gt_files = sorted((davis_dir / "Annotations" / "480p" / "car-shadow").glob("*.png"))
    pred_dir = davis_dir / "results-osvos-davis2017" / "car-shadow"
    assert [f.stem for f in gt_files] == ref["frames"]
    js, fs = [], []
    for f in gt_files:
        g = m.read_davis_mask(f) == 1
        p = m.read_davis_mask(pred_dir / f.name) == 1
        js.append(m.jaccard(g, p))
        fs.append(m.boundary_f(g, p))
    np.testing.assert_allclose(js, ref["J"], atol=1e-6)
    np.testing.assert_allclose(fs, ref["F"], atol=1e-6)
    for ours, theirs in ((m.statistics(js[1:-1]), ref["J_stats_frames_00001_to_00038"]),
                         (m.statistics(fs[1:-1]), ref["F_stats_frames_00001_to_00038"])):
        assert (ours.mean, ours.recall, ours.decay) == pytest.approx(
            (theirs["M"], theirs["R"], theirs["D"]), abs=1e-6)


@pytest.mark.davis
def test_reproduces_official_merged_binary_numbers(davis_dir: Path, reference: dict) -> None:
    ref = reference["osvos_merged_binary_all3"]
    sequences = {}
    for seq in SEQS:
        gt_files = sorted((davis_dir / "Annotations" / "480p" / seq).glob("*.png"))
        pred_dir = davis_dir / "results-osvos-davis2017" / seq
        gt = (m.read_davis_mask(f) for f in gt_files)
        pred = ((m.read_davis_mask(pred_dir / f.name) > 0).astype(np.uint8) for f in gt_files)
        sequences[seq] = m.score_sequence(gt, pred, name=seq)
    doc = m.EvalResult(sequences).to_json()
    assert doc["J&F"] == pytest.approx(ref["global"]["J&F-Mean"], abs=1e-5)
    assert doc["J-Recall"] == pytest.approx(ref["global"]["J-Recall"], abs=1e-5)
    assert doc["F-Decay"] == pytest.approx(ref["global"]["F-Decay"], abs=1e-5)
    for seq in SEQS:
        obj = doc["per_sequence"][seq]["objects"]["1"]
        assert (obj["J"], obj["F"]) == pytest.approx(
            (ref["per_object"][f"{seq}_1"]["J-Mean"], ref["per_object"][f"{seq}_1"]["F-Mean"]), abs=1e-5)


@pytest.mark.davis
def test_raw_bmx_trees_osvos_has_more_ids_than_the_davis16_gt(davis_dir: Path) -> None:
    with pytest.raises(FormatError, match=r"bmx-trees.*object id 2"):
        m.evaluate_folders(davis_dir, davis_dir / "results-osvos-davis2017", ["bmx-trees"])
