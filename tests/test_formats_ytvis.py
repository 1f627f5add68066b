"""YouTube-VIS export/import: round trips, the 2019/2021 layouts, the results format, the DAVIS
ground truth compared with the reference file, and errors."""

from __future__ import annotations

import json

import pytest
from format_helpers import assert_round_trip, make_project

from annotator.core.vis_metrics import evaluate_ytvis
from annotator.errors import FormatError
from annotator.formats import ExportOptions
from annotator.formats.dataset import export_dataset
from annotator.formats.davis import import_davis
from annotator.formats.ytvis import export_ytvis, import_ytvis

DAVIS_SEQUENCES = ("car-shadow", "blackswan", "bmx-trees")  # the order of reference/ytvis-gt.json


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("ytvis"))


def test_layout_of_the_ground_truth(built, tmp_path):
    export_ytvis(built.path, tmp_path / "y.json", ExportOptions(stride=2))
    doc = json.loads((tmp_path / "y.json").read_text())
    (video,) = doc["videos"]
    assert video["length"] == len(video["file_names"]) == 5
    assert video["file_names"][:2] == ["clip/00000.png", "clip/00002.png"]
    assert (video["width"], video["height"]) == (built.width, built.height)
    assert len(doc["annotations"]) == 4  # one per track
    for ann in doc["annotations"]:
        assert len(ann["segmentations"]) == len(ann["areas"]) == len(ann["bboxes"]) == 5
        assert ann["iscrowd"] == 0
        for k, seg in enumerate(ann["segmentations"]):
            frame = 2 * k
            if (ann["object_id"], frame) in built.masks:
                assert ann["areas"][k] == built.masks[(ann["object_id"], frame)].sum()
                assert seg["size"] == [built.height, built.width]
            else:
                assert seg is None and ann["areas"][k] is None and ann["bboxes"][k] is None
    gap = next(a for a in doc["annotations"] if a["object_id"] == 3)
    assert gap["segmentations"][1] is None  # object 3 is absent on frame 2


def test_round_trip_gives_back_masks_ids_and_categories(built, tmp_path):
    export_ytvis(built.path, tmp_path / "y.json")
    summary = import_ytvis(tmp_path / "y.json", built.source, tmp_path / "back.annot")
    assert_round_trip(built, summary, tmp_path / "back.annot")


def test_official_category_layouts(tmp_path):
    built = make_project(tmp_path, frames=6, extras=False, category_names=("Giant Panda", "person", "person"))
    export_ytvis(built.path, tmp_path / "19.json", ExportOptions(layout="2019"))
    doc = json.loads((tmp_path / "19.json").read_text())
    assert len(doc["categories"]) == 40 and doc["categories"][1] == {"id": 2, "name": "giant_panda",
                                                                      "supercategory": "giant_panda"}
    assert {a["object_id"]: a["category_id"] for a in doc["annotations"]} == {1: 2, 2: 1, 3: 1}
    export_ytvis(built.path, tmp_path / "21.json", ExportOptions(layout="2021"))
    doc = json.loads((tmp_path / "21.json").read_text())
    assert {a["object_id"]: a["category_id"] for a in doc["annotations"]} == {1: 17, 2: 26, 3: 26}
    other = make_project(tmp_path / "o", frames=6, extras=False, category_names=("hand", "car", "car"))
    with pytest.raises(ValueError, match="hand not in the 2021 YouTube-VIS list"):
        export_ytvis(other.path, tmp_path / "x.json", ExportOptions(layout="2021"))
    assert not (tmp_path / "x.json").exists()


def test_results_format_scores_and_evaluates_to_ap_1(built, tmp_path):
    export_ytvis(built.path, tmp_path / "gt.json")
    export_ytvis(built.path, tmp_path / "res.json", ExportOptions(results=True))
    results = json.loads((tmp_path / "res.json").read_text())
    assert isinstance(results, list)
    assert set(results[0]) == {"video_id", "category_id", "score", "segmentations"}
    score = {r["category_id"]: r["score"] for r in results}
    assert score[1] == pytest.approx(0.55)  # object 1 (car): every mask scored 0.5 + 0.05 * 1
    assert score[3] == 1.0  # the user-drawn object has no scores: 1.0
    result = evaluate_ytvis(tmp_path / "gt.json", tmp_path / "res.json")
    assert result.stats["AP"] == pytest.approx(1.0) and result.stats["AR100"] == pytest.approx(1.0)


def test_davis_ground_truth_matches_the_reference_file(davis_dir, tmp_path):
    projects = []
    for seq in DAVIS_SEQUENCES:
        import_davis(davis_dir / "Annotations" / "480p" / seq, davis_dir / "JPEGImages" / "480p" / seq,
                     tmp_path / f"{seq}.annot")
        projects.append(tmp_path / f"{seq}.annot")
    export_dataset(projects, "ytvis", tmp_path / "gt.json")
    ours = json.loads((tmp_path / "gt.json").read_text())
    ref = json.loads((davis_dir / "reference" / "ytvis-gt.json").read_text())
    assert [v["file_names"] for v in ours["videos"]] == [v["file_names"] for v in ref["videos"]]
    assert [c["name"] for c in ours["categories"]] == [c["name"] for c in ref["categories"]]
    for a, b in zip(ours["annotations"], ref["annotations"], strict=True):
        assert a["video_id"] == b["video_id"]
        assert a["segmentations"] == b["segmentations"]  # the same RLE on every frame
        assert a["areas"] == b["areas"] and a["bboxes"] == b["bboxes"]
    # ... and the official-port evaluator scores the OSVOS results against it as the official tool did.
    result = evaluate_ytvis(tmp_path / "gt.json", davis_dir / "reference" / "ytvis-results-osvos.json")
    assert result.stats["AP"] == pytest.approx(0.664356, abs=1e-6)


def _bad(built, tmp_path, doc, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=match) as err:
        import_ytvis(path, built.source, tmp_path / "bad.annot")
    assert "bad.json" in str(err.value) and not (tmp_path / "bad.annot").exists()


def test_bad_inputs_are_clear_errors(built, tmp_path):
    export_ytvis(built.path, tmp_path / "y.json")
    good = json.loads((tmp_path / "y.json").read_text())

    def variant(edit):
        doc = json.loads(json.dumps(good))
        edit(doc)
        return doc

    _bad(built, tmp_path, variant(lambda d: d["annotations"][0]["segmentations"].pop()),
         r"annotations\[0\]: 'segmentations' must be a list of 10 entries")
    _bad(built, tmp_path, variant(lambda d: d["videos"][0].update(width=640)),
         r"videos\[0\]: size 640x120 does not match")
    _bad(built, tmp_path, variant(lambda d: d["videos"][0]["file_names"].__setitem__(3, "clip/x.png")),
         r"videos\[0\].file_names\[3\]: 'clip/x.png' matches no frame")
    _bad(built, tmp_path, variant(lambda d: d["annotations"][1].update(category_id=77)),
         r"annotations\[1\]: unknown category_id 77")
    _bad(built, tmp_path, variant(lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"])),
         r"annotations\[1\]: 'id' .* is not a unique integer")
    _bad(built, tmp_path, variant(lambda d: d["annotations"][0]["segmentations"][0].update(size=[12, 16])),
         r"annotations\[0\].segmentations\[0\]: segmentation size \[12, 16\] does not match")
    _bad(built, tmp_path, variant(lambda d: d["videos"].append({**d["videos"][0], "id": 2, "name": "other"})),
         r"holds 2 videos \(clip, other\)")
