"""The command line for benchmark exports and its hygiene: --class-map / --frame-base / --seqmap,
the class warning on stderr, --polygons summary and --polygon-fallback, YOLO --no-frames refusing,
a closed output pipe, and `annotator track --range`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from format_helpers import HOLE_OBJECT, make_project

from annotator.app.propagation import BACKWARD, FORWARD, plan_run
from annotator.cli.main import main
from annotator.core.imageio import read_label_png, write_label_png
from annotator.core.project import Project


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("clibench"), frames=8)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_mots_options_and_the_class_warning(built, tmp_path, capsys):
    code, out, err = _run(capsys, "export", built.path, "--format", "mots", "--out", tmp_path / "m",
                          "--objects", "1,3", "--frame-base", "0", "--seqmap", "KITTI-train", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["extra"]["class_ids"]["car"] == 1 and doc["extra"]["frame_base"] == 0
    assert (tmp_path / "m" / "seqmaps" / "KITTI-train.txt").read_text() == "name\nclip\n"
    lines = (tmp_path / "m" / "KITTI-train" / "clip" / "gt" / "gt.txt").read_text().splitlines()
    assert lines[0].split()[:3] == ["0", "1001", "1"]
    # Objects 3 ('object') and 2 ('person' = pedestrian) under a map that leaves nothing scored.
    code, out, err = _run(capsys, "export", built.path, "--format", "mots", "--out", tmp_path / "m2",
                          "--objects", "3", "--class-map", "object=7")
    assert code == 0 and "warning: no exported object is in a class" in err and "'object'" in err
    for fmt, bad in (("mots", ["--frame-base", "2"]), ("mots", ["--class-map", "car"]),
                     ("mots", ["--seqmap", "nosplit"]), ("coco", ["--class-map", "car=1"]),
                     ("mot", ["--gt", str(built.path)]), ("yolo", ["--polygon-fallback", "approx"])):
        with pytest.raises(SystemExit) as exit_info:
            main(["export", str(built.path), "--format", fmt, "--out", str(tmp_path / "m3"), *bad])
        assert exit_info.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_polygon_summary_and_fallback(built, tmp_path, capsys):
    code, out, _ = _run(capsys, "export", built.path, "--format", "coco", "--out", tmp_path / "p.json",
                        "--polygons", "--json")
    doc = json.loads(out)
    holes = sum(1 for oid, _ in built.masks if oid == HOLE_OBJECT)
    assert doc["extra"]["rle_fallback"] == holes and doc["polygons"] == doc["annotations"] - holes
    assert 0.5 < doc["worst_polygon_iou"] <= 1.0
    code, out, err = _run(capsys, "export", built.path, "--format", "coco", "--out", tmp_path / "a.json",
                          "--polygons", "--polygon-fallback", "approx", "--json")
    doc = json.loads(out)
    assert doc["polygons"] == doc["annotations"] and doc["extra"]["approximated"] == holes
    segs = [a["segmentation"] for a in json.loads((tmp_path / "a.json").read_text())["annotations"]]
    assert all(isinstance(s, list) for s in segs)  # polygons only
    assert "written as their outer contours" in err
    code, out, _ = _run(capsys, "export", built.path, "--format", "coco", "--out", tmp_path / "p.json")
    assert "polygons" not in out  # RLE exports say nothing about polygons


def test_yolo_no_frames_refuses_with_the_reason(built, tmp_path, capsys):
    code, out, err = _run(capsys, "export", built.path, "--format", "yolo", "--out", tmp_path / "y",
                          "--no-frames")
    assert code == 1 and out == ""
    assert "annotator: error:" in err and "images that do not exist" in err
    assert not (tmp_path / "y").exists()


def test_a_closed_output_pipe_ends_quietly(built, tmp_path):
    """`annotator export ... --json | head -c 1`: no traceback, exit 141 (or 0 if all was written)."""
    export = [sys.executable, "-m", "annotator", "export", str(built.path), "--format", "coco",
              "--out", str(tmp_path / "c.json"), "--json"]
    proc = subprocess.Popen(export, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before the summary is written (the child is still starting)
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)  # hang guard only, far above the run's few seconds
    assert code == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def _write_video(folder, frames=12, size=(48, 64)):
    """A square moving right by 2 px per frame on a textured background, as PNG frames."""
    from annotator.core.imageio import write_image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, (*size, 3), dtype=np.uint8)
    for t in range(frames):
        frame = background.copy()
        frame[16:32, 8 + 2 * t:24 + 2 * t] = (230, 40, 40)
        write_image(folder / f"{t:05d}.png", frame)
    init = np.zeros(size, np.uint8)
    init[16:32, 8 + 2 * 5:24 + 2 * 5] = 1
    return init


def test_track_range_writes_only_inside_the_range(tmp_path, capsys):
    init = _write_video(tmp_path / "frames")
    write_label_png(tmp_path / "init.png", init)
    out = tmp_path / "masks"
    out.mkdir()
    sentinel = np.full(init.shape, 3, np.uint8)
    for t in (0, 2, 7, 11):  # an earlier run's frames, outside the range: never touched
        write_label_png(out / f"{t:05d}.png", sentinel)
    code, stdout, _ = _run(capsys, "track", tmp_path / "frames", "--init", tmp_path / "init.png",
                           "--init-frame", "5", "--tracker", "classical", "--direction", "both",
                           "--range", "3:7", "--out", out, "--json")
    assert code == 0 and json.loads(stdout)["frames"] == 4
    for t in range(12):
        labels = read_label_png(out / f"{t:05d}.png") if (out / f"{t:05d}.png").exists() else None
        if t in (3, 4, 5, 6):
            assert labels is not None and set(np.unique(labels)) <= {0, 1} and labels.any()
        elif t in (0, 2, 7, 11):
            assert np.array_equal(labels, sentinel)
        else:
            assert labels is None
    for bad in ("7:9", "5:5", "x"):  # the initial frame outside the range; an empty range; no range
        with pytest.raises(SystemExit) as exit_info:
            main(["track", str(tmp_path / "frames"), "--init", str(tmp_path / "init.png"),
                  "--init-frame", "5", "--tracker", "classical", "--range", bad, "--out", str(out)])
        assert exit_info.value.code == 2
        capsys.readouterr()


def test_a_propagation_range_stops_at_locks_and_its_edges(tmp_path):
    built = make_project(tmp_path, frames=10, extras=False)
    with Project.open(built.path) as project:
        project.set_locked(1, 7, True)
        assert plan_run(project, 2, FORWARD, [1], (0, 10)).stops == {1: 6}  # the lock comes first
        assert plan_run(project, 2, FORWARD, [1], (1, 5)).stops == {1: 4}  # the range's edge first
        assert plan_run(project, 2, BACKWARD, [1], (1, 5)).stops == {1: 1}
        assert plan_run(project, 2, FORWARD, [1]).stops == {1: 6}
        with pytest.raises(ValueError, match="outside the range"):
            plan_run(project, 8, FORWARD, [1], (0, 5))
