"""MOT (boxes) and MOTS (masks) text export/import."""

from __future__ import annotations

import configparser

import numpy as np
import pytest
from format_helpers import assert_round_trip, make_project, object_categories, project_masks
from pycocotools import mask as coco_mask

from annotator.core import masks as rle_ops
from annotator.core.project import Project
from annotator.errors import FormatError
from annotator.formats import ExportOptions
from annotator.formats.mot import export_mot, export_mots, import_mot, import_mots


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("mot"))


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


def test_mot_gt_lines_and_seqinfo(built, tmp_path):
    export_mot(built.path, tmp_path / "mot")
    seq = tmp_path / "mot" / "clip"
    info = configparser.ConfigParser()
    info.read(seq / "seqinfo.ini")
    assert dict(info["Sequence"]) == {"name": "clip", "imdir": "img1", "framerate": "25", "seqlength": "10",
                                      "imwidth": "160", "imheight": "120", "imext": ".jpg"}
    lines = (seq / "gt" / "gt.txt").read_text().splitlines()
    assert len(lines) == len(built.masks)
    first = lines[0].split(",")
    x, y, w, h = _bbox(built.masks[(1, 0)])
    # 1-based frame and box; class 3 = "car" in MOT17
    assert first == ["1", "1", str(x + 1), str(y + 1), str(w), str(h), "1", "3", "1"]
    rows = [tuple(int(float(v)) for v in ln.split(",")[:2]) for ln in lines]
    assert rows == sorted((f + 1, oid) for oid, f in built.masks)


def test_mot_round_trip_gives_back_boxes_and_ids(built, tmp_path):
    export_mot(built.path, tmp_path / "mot")
    summary = import_mot(tmp_path / "mot" / "clip", built.source, tmp_path / "back.annot")
    assert summary.masks == len(built.masks)
    back = project_masks(tmp_path / "back.annot")
    assert back.keys() == built.masks.keys()
    for key, mask in built.masks.items():
        assert _bbox(back[key]) == _bbox(mask)
        assert back[key].sum() == _bbox(mask)[2] * _bbox(mask)[3]  # a box-shaped mask
    export_mot(tmp_path / "back.annot", tmp_path / "again")
    assert (tmp_path / "again" / "clip" / "gt" / "gt.txt").read_text() == \
        (tmp_path / "mot" / "clip" / "gt" / "gt.txt").read_text()


def test_mots_round_trip_gives_back_masks_ids_and_classes(built, tmp_path):
    export_mots(built.path, tmp_path / "mots")
    lines = (tmp_path / "mots" / "clip" / "gt" / "gt.txt").read_text().splitlines()
    frame, tid, cls, h, w, counts = lines[0].split(" ")
    assert (frame, tid, cls, h, w) == ("1", "1001", "1", "120", "160")  # id = class * 1000 + instance
    rle = {"size": [120, 160], "counts": counts.encode()}
    assert np.array_equal(coco_mask.decode(rle).astype(bool), built.masks[(1, 0)])
    summary = import_mots(tmp_path / "mots" / "clip", built.source, tmp_path / "back.annot")
    assert_round_trip(built, summary, tmp_path / "back.annot")
    # Without ids.json the MOTS ids themselves become the object ids, classes their categories.
    (tmp_path / "mots" / "clip" / "ids.json").unlink()
    import_mots(tmp_path / "mots" / "clip" / "gt" / "gt.txt", built.source, tmp_path / "raw.annot")
    assert object_categories(tmp_path / "raw.annot") == \
        {1001: "car", 2002: "pedestrian", 4003: "class 4", 3004: "class 3"}


def test_mots_resolves_overlaps(tmp_path):
    built = make_project(tmp_path, frames=6, extras=False)
    square = np.zeros((built.height, built.width), bool)
    square[0:60, 0:80] = True
    with Project.open(built.path) as p:
        p.set_mask(1, 0, rle_ops.encode(square), "user")
        p.set_mask(2, 0, rle_ops.encode(square[::-1, ::-1] | square), "user")
    export_mots(built.path, tmp_path / "mots", ExportOptions(frame_stop=1, objects=(1, 2)))
    lines = (tmp_path / "mots" / "clip" / "gt" / "gt.txt").read_text().splitlines()
    assert [ln.split(" ")[1] for ln in lines] == ["2002"]  # object 2 covers all of object 1


def test_bad_inputs_are_clear_errors(built, tmp_path):
    gt = tmp_path / "gt.txt"

    def bad(text, match, importer=import_mot):
        gt.write_text(text)
        with pytest.raises(FormatError, match=match) as err:
            importer(gt, built.source, tmp_path / "x.annot")
        assert "gt.txt" in str(err.value) and not (tmp_path / "x.annot").exists()

    bad("1,1,10,10,5,5,1,1,1\n1,1,20,20,5,5,1,1,1\n", r"line 2: track 1 already has a box on frame 1")
    bad("99,1,10,10,5,5,1,1,1\n", r"line 1: frame 99 is outside 1..10")
    bad("1,1,ten,10,5,5\n", r"line 1: expected frame,id,x,y,w,h")
    bad("1,-1,10,10,5,5,1,1,1\n", r"line 1: id -1 is not a positive track id")
    good = rle_ops.encode(built.masks[(1, 0)])["counts"]
    bad(f"1 1001 1 480 640 {good}\n", r"line 1: mask size 480x640 does not match", import_mots)
    bad(f"1 1001 2 120 160 {good}\n", r"line 1: id 1001 does not carry class 2", import_mots)
    bad(f"1 1001 1 120 160 {good}\n1 1001 1 120 160 {good}\n", r"line 2: id 1001 already has a mask",
        import_mots)
    bad(f"1 1001 1 120 160 {good[:-3]}\n", r"line 1: RLE", import_mots)
