"""Several projects merged into one COCO / YouTube-VIS dataset, shared category ids by name, and
the split by video with a fixed seed."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from format_helpers import make_project
from pycocotools.coco import COCO

from annotator.formats import ExportOptions, export_projects
from annotator.formats.dataset import split_videos


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    base = tmp_path_factory.mktemp("dataset")
    specs = [("a", ("car", "person", "car")), ("b", ("person", "bike", None)), ("c", ("bike", "car", "car")),
             ("a", ("dog", "dog", "dog"))]  # the same video name twice
    built = []
    for k, (name, cats) in enumerate(specs):
        folder = base / str(k)
        folder.mkdir()
        built.append(make_project(folder, frames=6, width=96, height=64, name=name, extras=False,
                                  category_names=cats))
    return built


def test_coco_dataset_shares_categories_by_name(projects, tmp_path):
    summary = export_projects([p.path for p in projects], "coco", tmp_path / "all.json")
    assert summary.videos == 4
    doc = json.loads((tmp_path / "all.json").read_text())
    assert [(c["id"], c["name"]) for c in doc["categories"]] == \
        [(1, "car"), (2, "person"), (3, "bike"), (4, "object"), (5, "dog")]
    assert [v["name"] for v in doc["videos"]] == ["a", "b", "c", "a-2"]
    assert len({i["file_name"] for i in doc["images"]}) == len(doc["images"]) == 24
    tracks = {(t["video_id"], t["object_id"]): t for t in doc["tracks"]}
    assert [t["id"] for t in doc["tracks"]] == list(range(1, 13))  # unique over the dataset
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert names[tracks[(2, 3)]["category_id"]] == "object"  # no category in project b
    assert names[tracks[(3, 1)]["category_id"]] == "bike"
    for ann in doc["annotations"]:
        track = next(t for t in doc["tracks"] if t["id"] == ann["track_id"])
        assert ann["category_id"] == track["category_id"] and ann["video_id"] == track["video_id"]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "all.json"))
    assert len(gt.getAnnIds()) == summary.annotations


def test_split_by_video_is_fixed_by_the_seed(projects, tmp_path):
    paths = [p.path for p in projects]
    summary = export_projects(paths, "ytvis", tmp_path / "ds.json", split={"train": 0.5, "val": 0.5}, seed=3)
    split = summary.extra["split"]
    assert set(split) == {"train", "val"}
    assert sorted(split["train"]["videos"] + split["val"]["videos"]) == ["a", "a-2", "b", "c"]
    assert len(split["train"]["videos"]) == 2
    train = json.loads((tmp_path / "ds_train.json").read_text())
    val = json.loads((tmp_path / "ds_val.json").read_text())
    assert train["categories"] == val["categories"]  # the same ids in every split
    assert [v["id"] for v in train["videos"]] == [1, 2] and [v["name"] for v in train["videos"]] == \
        split["train"]["videos"]
    assert {a["video_id"] for a in val["annotations"]} == {1, 2}
    again = export_projects(paths, "ytvis", tmp_path / "again", split={"train": 0.5, "val": 0.5}, seed=3)
    assert again.extra["split"]["train"]["videos"] == split["train"]["videos"]
    assert (tmp_path / "again" / "train.json").is_file()


def test_split_rule():
    names = [f"v{i}" for i in range(10)]
    parts = split_videos(names, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=0)
    assert [len(p) for p in parts.values()] == [7, 2, 1]
    assert sorted(i for p in parts.values() for i in p) == list(range(10))
    assert parts == split_videos(names, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=0)
    assert parts != split_videos(names, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=1)


def test_only_coco_and_ytvis_hold_several_videos(projects, tmp_path):
    with pytest.raises(ValueError, match="holds one video"):
        export_projects([p.path for p in projects[:2]], "davis", tmp_path / "d")
    summary = export_projects([projects[0].path, projects[1].path], "coco", tmp_path / "c.json",
                              ExportOptions(categories=("person",)))
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]
    assert summary.objects == 2
