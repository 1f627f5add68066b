"""Exports that benchmark tools score as they are: MOT/MOTS class ids by name, frame base, TrackEval's
many-video layout with a seqmap, one YOLO dataset of many videos, and a synthetic multi-object round
trip through MOT, MOTS and YOLO (every DAVIS-2016 sequence holds one object, so this is where ids and
classes of several objects are checked)."""

from __future__ import annotations

import configparser
import json

import numpy as np
import pytest
import yaml
from format_helpers import make_project, object_categories, project_masks

from annotator.core.project import Project
from annotator.formats import ExportOptions, export_projects
from annotator.formats.benchmark import class_warnings, parse_class_map, resolve_class_ids
from annotator.formats.mot import export_mot, export_mots, import_mot, import_mots
from annotator.formats.yolo import import_yolo


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two synthetic videos with three moving objects each (one passes in front of another)."""
    base = tmp_path_factory.mktemp("bench")
    built = []
    for name, cats in (("walk", ("pedestrian", "car", "person")), ("road", ("car", "car", "pedestrian"))):
        folder = base / name
        folder.mkdir()
        built.append(make_project(folder, frames=8, width=128, height=96, name=name, extras=False,
                                  category_names=cats))
    return built


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def test_class_ids_by_name_and_class_map():
    mots = resolve_class_ids("mots", ["car", "Pedestrian", "person", "dog"])
    assert mots.ids == {"car": 1, "Pedestrian": 2, "person": 2, "dog": 3} and mots.unmapped == ["dog"]
    mot = resolve_class_ids("mot", ["pedestrian", "car", "static_person", "object"])
    assert mot.ids == {"pedestrian": 1, "car": 3, "static_person": 7, "object": 14}
    mapped = resolve_class_ids("mots", ["object", "dog"], parse_class_map("object=2, dog=1"))
    assert mapped.ids == {"object": 2, "dog": 1} and not mapped.unmapped
    with pytest.raises(ValueError, match="ignore region"):
        resolve_class_ids("mots", ["x"], parse_class_map("x=10"))
    with pytest.raises(ValueError, match="NAME=ID"):
        parse_class_map("car=one")
    # Nothing in an evaluated class: the warning names the categories.
    only_dogs = resolve_class_ids("mots", ["dog"])
    warnings = class_warnings("mots", only_dogs, {"dog": 2})
    assert any("no exported object is in a class" in w and "'dog'" in w for w in warnings)
    assert not class_warnings("mots", mots, {"car": 1, "dog": 1})[1:]  # car is scored: only the unmapped note


def test_mots_ids_are_class_times_1000_plus_instance(videos, tmp_path):
    summary = export_mots(videos[0].path, tmp_path / "m")
    lines = (tmp_path / "m" / "walk" / "gt" / "gt.txt").read_text().splitlines()
    ids = {int(ln.split()[1]): int(ln.split()[2]) for ln in lines}
    assert ids == {2001: 2, 1002: 1, 2003: 2}  # pedestrian 2, car 1, person = pedestrian 2
    assert summary.extra["class_ids"] == {"pedestrian": 2, "car": 1, "person": 2}
    assert summary.warnings == []
    assert int(lines[0].split()[0]) == 1  # frames from 1 by default


def test_warning_when_no_object_is_in_an_evaluated_class(tmp_path):
    built = make_project(tmp_path, frames=3, width=64, height=48, extras=False,
                         category_names=("dog", "cat", None))
    summary = export_mots(built.path, tmp_path / "m")
    text = " ".join(summary.warnings)
    assert "no exported object is in a class" in text
    assert "'dog'" in text and "'cat'" in text and "'object'" in text
    fixed = export_mots(built.path, tmp_path / "m", ExportOptions(class_map=(("dog", 2), ("cat", 2),
                                                                             ("object", 1))))
    assert fixed.warnings == []


def test_frame_base_zero_round_trips(videos, tmp_path):
    built = videos[1]
    for export, importer in ((export_mots, import_mots), (export_mot, import_mot)):
        out = tmp_path / export.__name__
        export(built.path, out, ExportOptions(frame_base=0))
        gt = out / "road" / "gt" / "gt.txt"
        frames = {int(ln.replace(",", " ").split()[0]) for ln in gt.read_text().splitlines()}
        assert min(frames) == 0 and max(frames) == built.frames - 1
        back = tmp_path / f"{export.__name__}.annot"
        importer(out / "road", built.source, back)
        assert project_masks(back).keys() == built.masks.keys()
        (out / "road" / "ids.json").unlink()  # without it, a frame 0 says "counted from 0"
        importer(gt, built.source, tmp_path / f"{export.__name__}-raw.annot")
        assert {f for _, f in project_masks(tmp_path / f"{export.__name__}-raw.annot")} == \
            {f for _, f in built.masks}


@pytest.mark.parametrize("fmt", ["mot", "mots"])
def test_many_videos_in_trackeval_layout(videos, tmp_path, fmt):
    seqmap = "MOT17-train" if fmt == "mot" else "MOTS-train"
    summary = export_projects([v.path for v in videos], fmt, tmp_path / "gt", ExportOptions(seqmap=seqmap))
    assert summary.videos == 2 and summary.extra["sequences"] == ["walk", "road"]
    assert (tmp_path / "gt" / "seqmaps" / f"{seqmap}.txt").read_text() == "name\nwalk\nroad\n"
    for built in videos:
        seq = tmp_path / "gt" / seqmap / built.path.stem
        info = configparser.ConfigParser()
        info.read(seq / "seqinfo.ini")
        assert info["Sequence"]["seqLength"] == str(built.frames)
        assert len((seq / "gt" / "gt.txt").read_text().splitlines()) == len(built.masks)
        # An import finds the sequence in the layout by the source's name.
        back = tmp_path / f"{fmt}-{built.path.stem}.annot"
        (import_mot if fmt == "mot" else import_mots)(tmp_path / "gt", built.source, back)
        assert project_masks(back).keys() == built.masks.keys()
    with pytest.raises(ValueError, match="--seqmap"):
        export_projects([v.path for v in videos], fmt, tmp_path / "x", split={"train": 0.5, "val": 0.5})
    with pytest.raises(ValueError, match="seqmap name"):
        ExportOptions(seqmap="train").validate()


def test_multi_object_round_trip_through_mot_mots_and_yolo(videos, tmp_path):
    """Ids, categories and frames of every object survive export then import, in the many-video layouts."""
    export_projects([v.path for v in videos], "mot", tmp_path / "mot", ExportOptions(seqmap="MOT17-train"))
    export_projects([v.path for v in videos], "mots", tmp_path / "mots", ExportOptions(seqmap="MOTS-train"))
    export_projects([v.path for v in videos], "yolo", tmp_path / "yolo", ExportOptions(tolerance=0.0))
    for built in videos:
        want_frames = {}
        for oid, frame in built.masks:
            want_frames.setdefault(oid, set()).add(frame)
        want_cats = {oid: cat for oid, cat in built.categories.items()}
        for fmt, importer in (("mot", import_mot), ("mots", import_mots), ("yolo", import_yolo)):
            root = tmp_path / fmt
            back = tmp_path / f"{fmt}-{built.path.stem}.annot"
            importer(root, built.source, back)
            masks = project_masks(back)
            got_frames = {}
            for oid, frame in masks:
                got_frames.setdefault(oid, set()).add(frame)
            assert got_frames == want_frames, fmt
            assert object_categories(back) == want_cats, fmt
            for key, mask in built.masks.items():
                if fmt == "mots":
                    assert np.array_equal(masks[key], mask)
                elif fmt == "mot":
                    assert _bbox(masks[key]) == _bbox(mask)


def test_yolo_dataset_of_many_videos_split_by_video(videos, tmp_path):
    summary = export_projects([v.path for v in videos], "yolo", tmp_path / "y",
                              split={"train": 0.5, "val": 0.5})
    data = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert data["names"] == {0: "pedestrian", 1: "car", 2: "person"}
    sets = {name: data[name] for name in ("train", "val")}
    assert sorted(sets.values()) == [["images/road"], ["images/walk"]] or \
        sorted(sets.values()) == ["images/road", "images/walk"]
    assert summary.extra["split"]["train"]["videos"] != summary.extra["split"]["val"]["videos"]
    for built in videos:
        images = sorted(p.stem for p in (tmp_path / "y" / "images" / built.path.stem).iterdir())
        labels = sorted(p.stem for p in (tmp_path / "y" / "labels" / built.path.stem).iterdir())
        assert images == labels and len(images) == built.frames
    tracks = json.loads((tmp_path / "y" / "tracks.json").read_text())
    assert set(tracks["videos"]) == {"walk", "road"}
    assert summary.polygons == summary.annotations and 0.5 < summary.worst_polygon_iou <= 1.0


def test_yolo_without_frames_refuses_and_says_why(videos, tmp_path):
    from annotator.errors import OutputError

    with pytest.raises(OutputError, match="data.yaml at images that do not exist"):
        export_projects([videos[0].path], "yolo", tmp_path / "y", ExportOptions(write_frames=False))
    assert not (tmp_path / "y").exists()


def test_read_only_export_leaves_no_wal_or_shm(videos, tmp_path):
    built = videos[0]
    export_mot(built.path, tmp_path / "m")
    assert not built.path.with_name(built.path.name + "-wal").exists()
    assert not built.path.with_name(built.path.name + "-shm").exists()
    # While a writer holds the project, a reader leaves the files to it, and the writer removes them.
    with Project.open(built.path) as writer:
        writer.set_frame_attributes(1, 0, {"visibility": 0.5})
        export_mot(built.path, tmp_path / "m2")
        assert built.path.with_name(built.path.name + "-wal").exists()
    assert not built.path.with_name(built.path.name + "-wal").exists()
    assert not built.path.with_name(built.path.name + "-shm").exists()
