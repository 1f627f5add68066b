"""COCO export/import: round trips, the official pycocotools loader and evaluator, polygons,
selection options, other tools' files, and clear errors on bad input."""

from __future__ import annotations

import contextlib
import io
import json
import threading

import numpy as np
import pytest
from format_helpers import HOLE_OBJECT, assert_round_trip, make_project, project_masks, within_boundary
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.core import masks as rle_ops
from annotator.core.project import Project
from annotator.errors import CancelledError, FormatError, OutputError
from annotator.formats import ExportOptions
from annotator.formats.coco import export_coco, import_coco


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("coco"))


def _load(path):
    return json.loads(path.read_text())


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def test_round_trip_gives_back_masks_ids_and_categories(built, tmp_path):
    export_coco(built.path, tmp_path / "c.json")
    summary = import_coco(tmp_path / "c.json", built.source, tmp_path / "back.annot")
    assert_round_trip(built, summary, tmp_path / "back.annot")
    with Project.open(tmp_path / "back.annot", readonly=True) as p:
        assert {o.id: o.name for o in p.objects()} == {oid: f"thing {oid}" for oid in built.categories}
        assert all(r.source == "imported" for r in p.iter_masks())


def test_official_loader_and_evaluator_accept_the_export(built, tmp_path):
    for name, options in (("rle.json", ExportOptions()), ("poly.json", ExportOptions(polygons=True))):
        out = tmp_path / name
        export_coco(built.path, out, options)
        gt = _quiet(COCO, str(out))
        assert len(gt.getImgIds()) == built.frames
        assert len(gt.getAnnIds()) == len(built.masks)
        results = [{**a, "score": 1.0} for a in gt.dataset["annotations"]]
        dt = _quiet(gt.loadRes, results)
        ev = COCOeval(gt, dt, "segm")
        _quiet(ev.evaluate)
        _quiet(ev.accumulate)
        _quiet(ev.summarize)
        assert ev.stats[0] == pytest.approx(1.0)  # AP of the export against itself


def test_fields_follow_the_spec(built, tmp_path):
    export_coco(built.path, tmp_path / "c.json")
    doc = _load(tmp_path / "c.json")
    assert [i["file_name"] for i in doc["images"][:2]] == ["clip/00000.png", "clip/00001.png"]
    assert [i["frame_id"] for i in doc["images"]] == list(range(built.frames))
    assert {c["name"]: c["id"] for c in doc["categories"]} == {"car": 1, "person": 2, "donut": 3, "object": 4}
    frame_of = {i["id"]: i["frame_id"] for i in doc["images"]}
    for ann in doc["annotations"]:
        mask = built.masks[(ann["track_id"], frame_of[ann["image_id"]])]
        rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ann["area"] == int(coco_mask.area(rle))
        assert ann["bbox"] == [float(v) for v in coco_mask.toBbox(rle)]
        assert ann["iscrowd"] == 0 and isinstance(ann["segmentation"]["counts"], str)
    occluded = [a for a in doc["annotations"] if a.get("attributes")]
    assert [(a["track_id"], frame_of[a["image_id"]], a["attributes"]) for a in occluded] == \
        [(1, 3, {"occluded": True})]
    track1 = next(t for t in doc["tracks"] if t["id"] == 1)
    assert track1["attributes"]["kind"] == "k1"
    assert track1["attributes"]["insights"][0]["payload"] == {"text": "a red ellipse"}
    assert doc["videos"][0]["attributes"]["insights"][0]["kind"] == "scene"


def test_polygons_keep_holes_as_rle_and_split_parts(built, tmp_path):
    summary = export_coco(built.path, tmp_path / "p.json", ExportOptions(polygons=True, tolerance=0.0))
    doc = _load(tmp_path / "p.json")
    frame_of = {i["id"]: i["frame_id"] for i in doc["images"]}
    hole = [a for a in doc["annotations"] if a["track_id"] == HOLE_OBJECT]
    assert hole and all(isinstance(a["segmentation"], dict) for a in hole)  # a ring has a hole
    assert summary.extra["rle_fallback"] == len(hole)
    for ann in doc["annotations"]:
        if ann["track_id"] == HOLE_OBJECT:
            continue
        assert isinstance(ann["segmentation"], list) and all(len(p) >= 6 for p in ann["segmentation"])
        rle = coco_mask.merge(coco_mask.frPyObjects(ann["segmentation"], built.height, built.width))
        decoded = coco_mask.decode(rle).astype(bool)
        # With tolerance 0 the half-pixel offset makes the polygon cover the mask, but for a
        # pixel at a sharp corner (the star's tips, where the offset is mitre-limited).
        want = built.masks[(ann["track_id"], frame_of[ann["image_id"]])]
        assert within_boundary(decoded, want, 1.0) and (decoded != want).sum() <= 2
        assert ann["area"] == int(coco_mask.area(rle))


def test_multi_part_mask_becomes_several_polygon_parts(tmp_path):
    built = make_project(tmp_path, frames=6, extras=False)
    two = np.zeros((built.height, built.width), bool)
    two[10:30, 10:30] = True
    two[60:90, 100:140] = True
    with Project.open(built.path) as p:
        p.set_mask(1, 0, rle_ops.encode(two), "user")
    export_coco(built.path, tmp_path / "p.json", ExportOptions(polygons=True, objects=(1,), frame_stop=1))
    ann = _load(tmp_path / "p.json")["annotations"][0]
    assert len(ann["segmentation"]) == 2
    assert ann["area"] == int(two.sum())


def test_write_frames_puts_images_beside_the_json(built, tmp_path):
    out = tmp_path / "ds" / "ann.json"
    out.parent.mkdir()
    export_coco(built.path, out, ExportOptions(write_frames=True, frame_stop=3))
    files = sorted(p.name for p in (tmp_path / "ds" / "images" / "clip").iterdir())
    assert files == ["00000.png", "00001.png", "00002.png"]  # a PNG folder keeps its own names
    assert [i["file_name"] for i in _load(out)["images"]] == [f"clip/{f}" for f in files]


def test_selection_options(built, tmp_path):
    def export(**kw):
        export_coco(built.path, tmp_path / "s.json", ExportOptions(**kw))
        doc = _load(tmp_path / "s.json")
        frame_of = {i["id"]: i["frame_id"] for i in doc["images"]}
        anns = sorted((a["track_id"], frame_of[a["image_id"]]) for a in doc["annotations"])
        return sorted(frame_of.values()), anns

    frames, anns = export(objects=(2,), frame_start=2, frame_stop=8, stride=3)
    assert frames == [2, 5] and anns == [(2, 2), (2, 5)]
    frames, anns = export(categories=("object",))
    assert {oid for oid, _ in anns} == {3}
    frames, anns = export(locked_only=True)
    assert frames == [0, 2, 5]  # frame 2: object 3's locked *empty* mask ("verified absent")
    assert anns == sorted(k for k in built.locked if k in built.masks)
    frames, anns = export(reviewed_only=True)
    assert frames == [1, 4] and anns == sorted(built.reviewed)
    frames, _ = export(objects=(4,), skip_empty=True)
    assert frames == [0, 2, 4, 6, 8]
    frames, _ = export(objects=(4,))
    assert frames == list(range(built.frames))  # empty frames stay as negatives
    with pytest.raises(ValueError, match="no object"):
        export(objects=(99,))
    with pytest.raises(ValueError, match="no category"):
        export(categories=("zebra",))


def _coco_doc(h, w, anns, images=None):
    return {"images": images or [{"id": 1, "file_name": "00000.png", "width": w, "height": h},
                                 {"id": 2, "file_name": "00001.png", "width": w, "height": h}],
            "annotations": anns, "categories": [{"id": 7, "name": "box"}, {"id": 9, "name": "disc"}]}


def test_import_from_other_tools_polygons_uncompressed_and_no_track_ids(built, tmp_path):
    h, w = built.height, built.width
    square = np.zeros((h, w), bool)
    square[10:20, 30:50] = True
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7, "segmentation": [[30, 10, 50, 10, 50, 20, 30, 20]]},
        {"id": 2, "image_id": 2, "category_id": 7,
         "segmentation": {"size": [h, w], "counts": rle_ops.uncompressed_counts(rle_ops.encode(square))}},
        {"id": 3, "image_id": 2, "category_id": 9, "segmentation": rle_ops.encode(square), "iscrowd": 1},
    ]
    (tmp_path / "o.json").write_text(json.dumps(_coco_doc(h, w, anns)))
    summary = import_coco(tmp_path / "o.json", built.source, tmp_path / "o.annot")
    assert summary.objects == 3  # no track ids: every annotation is its own object
    back = project_masks(tmp_path / "o.annot")
    assert all(np.array_equal(m, square) for m in back.values()) and len(back) == 3
    # Grouped by an attribute: one object over both frames.
    for a, obj in zip(anns, ("a", "a", "b")):
        a["attributes"] = {"instance": obj}
    (tmp_path / "g.json").write_text(json.dumps(_coco_doc(h, w, anns)))
    summary = import_coco(tmp_path / "g.json", built.source, tmp_path / "g.annot", group_by="instance")
    assert summary.objects == 2
    assert sorted(project_masks(tmp_path / "g.annot")) == [(1, 0), (1, 1), (2, 1)]


def _bad(built, tmp_path, doc, match, **kw):
    path = tmp_path / "bad.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    out = tmp_path / "bad.annot"
    with pytest.raises(FormatError, match=match) as err:
        import_coco(path, built.source, out, **kw)
    assert "bad.json" in str(err.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "bad.json"] == []  # nothing left behind


def test_bad_inputs_are_clear_errors(built, tmp_path):
    h, w = built.height, built.width
    good = rle_ops.encode(built.masks[(1, 0)])
    ann = {"id": 1, "image_id": 1, "category_id": 7, "segmentation": good}
    _bad(built, tmp_path, '{"images": [', r"not valid JSON \(line 1")
    _bad(built, tmp_path, _coco_doc(h, w, [ann], [{"id": 1, "file_name": "00000.png", "width": 640,
                                                   "height": 480}]),
         r"images\[0\]: size 640x480 does not match")
    wrong_size = {"size": [480, 640], "counts": good["counts"]}
    _bad(built, tmp_path, _coco_doc(h, w, [{**ann, "segmentation": wrong_size}]),
         r"annotations\[0\]: segmentation size \[480, 640\] does not match the image \(120x160\)")
    short = rle_ops.encode(np.ones((h, w - 1), bool))["counts"]
    _bad(built, tmp_path, _coco_doc(h, w, [{**ann, "segmentation": {"size": [h, w], "counts": short}}]),
         r"annotations\[0\]: RLE runs cover .* \(counts and size do not match\)")
    _bad(built, tmp_path, _coco_doc(h, w, [ann], [{"id": 1, "file_name": "frame_999.png"}]),
         r"images\[0\]: file_name 'frame_999.png' matches no frame")
    _bad(built, tmp_path, _coco_doc(h, w, [ann, {**ann, "image_id": 2}]),
         r"annotations\[1\]: duplicate annotation id 1")
    _bad(built, tmp_path, _coco_doc(h, w, [{**ann, "track_id": 5}, {**ann, "id": 2, "track_id": 5}]),
         r"annotations\[1\]: object 5 already has a mask on image 1")
    _bad(built, tmp_path, _coco_doc(h, w, [{**ann, "category_id": 3}]),
         r"annotations\[0\]: unknown category_id 3")
    _bad(built, tmp_path, _coco_doc(h, w, [{**ann, "image_id": 42}]),
         r"annotations\[0\]: image_id 42 is not in")
    _bad(built, tmp_path, {"images": []}, r"'annotations' is missing")
    two_videos = {**_coco_doc(h, w, [ann]), "videos": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    _bad(built, tmp_path, two_videos, r"holds 2 videos \(a, b\); choose one with --video")


def test_export_failures_leave_nothing(built, tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        export_coco(built.path, tmp_path / "c.json", cancel=cancel)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="does not exist"):
        export_coco(built.path, tmp_path / "missing" / "c.json")
    seen = []
    export_coco(built.path, tmp_path / "c.json", progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[-1] == (built.frames, built.frames, "annotations")


def test_frame_attributes_come_back(built, tmp_path):
    export_coco(built.path, tmp_path / "c.json")
    import_coco(tmp_path / "c.json", built.source, tmp_path / "back.annot")
    with Project.open(tmp_path / "back.annot", readonly=True) as p:
        assert p.frame_attributes(1, 3) == {"occluded": True}
        assert p.frame_attributes(1, 2) == {}
