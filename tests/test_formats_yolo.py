"""YOLO segmentation export/import: the Ultralytics layout, polygons within the tolerance
(holes and parts joined into one ring), ids through tracks.json, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from format_helpers import HOLE_OBJECT, make_project, project_masks, within_boundary

from annotator.errors import FormatError, OutputError
from annotator.formats import ExportOptions
from annotator.formats.yolo import export_yolo, import_yolo


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("yolo"))


def test_layout_and_label_lines(built, tmp_path):
    export_yolo(built.path, tmp_path / "y")
    root = tmp_path / "y"
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data["train"] == data["val"] == "images/clip" and "path" not in data
    assert data["names"] == {0: "car", 1: "person", 2: "donut", 3: "object"} and data["nc"] == 4
    assert sorted(p.name for p in (root / "images" / "clip").iterdir()) == [f"{i:05d}.jpg" for i in range(10)]
    labels = sorted(p.name for p in (root / "labels" / "clip").iterdir())
    assert labels == [f"{i:05d}.txt" for i in range(10)]
    lines = (root / "labels" / "clip" / "00000.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["0", "1", "3", "2"]  # objects 1..4: car, person, object, donut
    coords = np.array([float(v) for v in lines[0].split()[1:]])
    assert len(coords) % 2 == 0 and coords.min() >= 0 and coords.max() <= 1


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 2.0])
def test_round_trip_within_the_tolerance(built, tmp_path, tolerance):
    export_yolo(built.path, tmp_path / "y", ExportOptions(tolerance=tolerance))
    summary = import_yolo(tmp_path / "y", built.source, tmp_path / "back.annot")
    assert summary.objects == 4  # tracks.json keeps which line is which object
    back = project_masks(tmp_path / "back.annot")
    assert back.keys() == built.masks.keys()
    for key, want in built.masks.items():
        # The polygon may move a pixel boundary by the tolerance, plus one for the normalised
        # coordinates (6 decimals) and pixel-centre rounding.
        assert within_boundary(back[key], want, tolerance + 1.5), key
    ring = back[(HOLE_OBJECT, 0)]
    hole_centre = (built.height // 4, built.width // 4)
    assert not ring[hole_centre] and built.masks[(HOLE_OBJECT, 0)].sum() == pytest.approx(ring.sum(), rel=0.1)


def test_without_tracks_each_line_is_an_object(built, tmp_path):
    export_yolo(built.path, tmp_path / "y", ExportOptions(frame_stop=2))
    (tmp_path / "y" / "tracks.json").unlink()
    summary = import_yolo(tmp_path / "y", built.source, tmp_path / "n.annot")
    assert summary.objects == summary.masks == 7  # 4 objects on frame 0, 3 on frame 1


def test_bad_inputs_are_clear_errors(built, tmp_path):
    labels = tmp_path / "y" / "labels" / "clip"
    labels.mkdir(parents=True)

    def bad(text, match, name="00000.txt"):
        for p in labels.iterdir():
            p.unlink()
        (labels / name).write_text(text)
        with pytest.raises(FormatError, match=match) as err:
            import_yolo(tmp_path / "y", built.source, tmp_path / "x.annot")
        assert name in str(err.value) and not (tmp_path / "x.annot").exists()

    bad("0 0.5 0.5 0.2 0.2\n", r"line 1: a box .* is not a segmentation polygon")
    bad("0 0.1 0.1 0.5 0.1 0.5\n", r"line 1: a polygon needs an even number")
    bad("0 0.1 0.1 0.5 0.1 0.5 7.0\n", r"line 1: coordinates must be normalised")
    bad("x 0.1 0.1 0.5 0.1 0.5 0.5\n", r"line 1: expected 'class x1 y1")
    bad("0 0.1 0.1 0.5 0.1 0.5 0.5\n", r"frame_99.txt names no frame", name="frame_99.txt")


def test_never_replaces_a_folder_of_other_files(built, tmp_path):
    mine = tmp_path / "holiday"
    mine.mkdir()
    (mine / "photo.jpg").write_bytes(b"not ours")
    with pytest.raises(OutputError, match="holds other files \\(photo.jpg\\)"):
        export_yolo(built.path, mine)
    assert [p.name for p in mine.iterdir()] == ["photo.jpg"]
    export_yolo(built.path, tmp_path / "y", ExportOptions(frame_stop=2))
    export_yolo(built.path, tmp_path / "y", ExportOptions(frame_stop=3))  # replaces ours
    assert len(list((tmp_path / "y" / "labels" / "clip").iterdir())) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holiday", "y"]  # no temp folders left
