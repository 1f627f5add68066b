"""DAVIS PNG export/import: palette PNGs with remapped ids, both DAVIS mask flavours, the official
J&F of an export against the ground truth it came from, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from format_helpers import make_project, project_masks
from PIL import Image

from annotator.core import masks as rle_ops
from annotator.core.imageio import davis_palette, write_label_png
from annotator.core.metrics import evaluate_folders
from annotator.core.project import Project
from annotator.errors import FormatError
from annotator.formats import ExportOptions
from annotator.formats.davis import export_davis, import_davis


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("davis"))


def test_export_writes_palette_pngs_named_like_the_frames(built, tmp_path):
    summary = export_davis(built.path, tmp_path / "out", ExportOptions(objects=(2, 4)))
    folder = tmp_path / "out" / "clip"
    assert summary.files == [str(folder)]
    assert sorted(p.name for p in folder.glob("*.png")) == [f"{i:05d}.png" for i in range(built.frames)]
    with Image.open(folder / "00000.png") as img:
        assert img.mode == "P"
        assert np.array_equal(np.array(img.getpalette()[:30]).reshape(-1, 3), davis_palette()[:10])
        labels = np.array(img)
    assert set(np.unique(labels)) == {0, 1, 2}  # objects 2 and 4 became 1 and 2
    assert np.array_equal(labels == 1, built.masks[(2, 0)] & ~built.masks[(4, 0)])
    assert np.array_equal(labels == 2, built.masks[(4, 0)])
    ids = json.loads((folder / "ids.json").read_text())
    assert ids["objects"] == {"1": {"object_id": 2, "name": "thing 2", "category": "person"},
                              "2": {"object_id": 4, "name": "thing 4", "category": "donut"}}


def test_round_trip_gives_back_masks_and_ids(tmp_path):
    built = make_project(tmp_path, extras=False)
    with Project.open(built.path) as p:  # ids that are not 1..N: the mapping must restore them
        oid = p.add_object("late", object_id=17).id
        p.set_mask(oid, 4, rle_ops.encode(built.masks[(1, 4)]), "user")
        p.delete_object(1)
    expected = {k: v for k, v in built.masks.items() if k[0] != 1}
    expected[(17, 4)] = built.masks[(1, 4)]
    export_davis(built.path, tmp_path / "out")
    summary = import_davis(tmp_path / "out" / "clip", built.source, tmp_path / "back.annot")
    assert summary.objects == 3
    back = project_masks(tmp_path / "back.annot")
    assert back.keys() == expected.keys()
    assert all(np.array_equal(back[k], expected[k]) for k in expected)
    with Project.open(tmp_path / "back.annot", readonly=True) as p:
        assert {o.id: o.name for o in p.objects()} == {2: "thing 2", 3: "thing 3", 17: "late"}


def test_import_davis_2016_and_2017_masks(davis_dir, tmp_path):
    frames = davis_dir / "JPEGImages" / "480p" / "bmx-trees"
    gt = import_davis(davis_dir / "Annotations" / "480p", frames, tmp_path / "gt.annot")  # finds bmx-trees
    assert (gt.frames, gt.objects, gt.masks) == (80, 1, 80)
    first = np.array(Image.open(davis_dir / "Annotations" / "480p" / "bmx-trees" / "00000.png"))
    assert project_masks(tmp_path / "gt.annot")[(1, 0)].sum() == (first == 255).sum()
    osvos = import_davis(davis_dir / "results-osvos-davis2017" / "bmx-trees", frames, tmp_path / "p.annot")
    assert osvos.objects == 2  # DAVIS 2017 palette ids 1 and 2: rider and bike
    labels = np.array(Image.open(davis_dir / "results-osvos-davis2017" / "bmx-trees" / "00010.png"))
    back = project_masks(tmp_path / "p.annot")
    assert np.array_equal(back[(2, 10)], labels == 2)


def test_export_scores_j_and_f_of_1_against_the_ground_truth(davis_dir, tmp_path):
    for seq in ("car-shadow", "blackswan"):
        import_davis(davis_dir / "Annotations" / "480p" / seq, davis_dir / "JPEGImages" / "480p" / seq,
                     tmp_path / f"{seq}.annot")
        export_davis(tmp_path / f"{seq}.annot", tmp_path / "results")
    result = evaluate_folders(davis_dir / "Annotations" / "480p", tmp_path / "results",
                              ["car-shadow", "blackswan"])
    assert result.jf == pytest.approx(1.0)


def test_void_is_not_an_object(built, tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    labels = np.zeros((built.height, built.width), np.uint8)
    labels[:10] = 255
    labels[50:60, 50:60] = 3
    write_label_png(folder / "00002.png", labels)
    summary = import_davis(folder, built.source, tmp_path / "v.annot")
    assert summary.objects == 1
    assert list(project_masks(tmp_path / "v.annot")) == [(3, 2)]


def test_bad_inputs_are_clear_errors(built, tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    write_label_png(folder / "00000.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(FormatError, match=r"00000.png: mask is 10x10 but the source is 160x120"):
        import_davis(folder, built.source, tmp_path / "a.annot")
    (folder / "00000.png").unlink()
    write_label_png(folder / "frame_77.png", np.zeros((built.height, built.width), np.uint8))
    with pytest.raises(FormatError, match=r"frame_77.png names no frame of clip \(10 frames\)"):
        import_davis(folder, built.source, tmp_path / "a.annot")
    (folder / "frame_77.png").unlink()
    (folder / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(FormatError, match=r"00001.png: not a readable PNG"):
        import_davis(folder, built.source, tmp_path / "a.annot")
    assert not (tmp_path / "a.annot").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]
