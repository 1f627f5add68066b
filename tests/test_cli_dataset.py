"""`annotator export / import / convert`: the CLI contract (stdout JSON, stderr messages, exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from format_helpers import make_project, project_masks

from annotator.cli.main import main


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("cli"), frames=8)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_json_summary_on_stdout(built, tmp_path, capsys):
    code, out, err = _run(capsys, "export", built.path, "--format", "coco", "--out", tmp_path / "c.json",
                          "--objects", "1,2", "--frames", "2:8", "--stride", "2", "--json")
    assert code == 0
    doc = json.loads(out)  # exactly one JSON document
    assert doc["format"] == "coco" and doc["frames"] == 3 and doc["annotations"] == 6
    assert doc["path"] == str(tmp_path / "c.json")
    coco = json.loads((tmp_path / "c.json").read_text())
    assert sorted(i["frame_id"] for i in coco["images"]) == [2, 4, 6]


def test_import_then_convert(built, tmp_path, capsys):
    # Objects 1-3 never overlap (MOTS would take shared pixels from the lower id).
    _run(capsys, "export", built.path, "--format", "mots", "--out", tmp_path / "mots", "--objects", "1,2,3")
    code, out, _ = _run(capsys, "import", tmp_path / "mots" / "clip", "--format", "mots",
                        "--source", built.source, "--project", tmp_path / "back.annot", "--json")
    want = {k: m for k, m in built.masks.items() if k[0] != 4}
    assert code == 0 and json.loads(out)["masks"] == len(want)
    back = project_masks(tmp_path / "back.annot")
    assert back.keys() == want.keys() and all(np.array_equal(back[k], want[k]) for k in want)
    code, out, err = _run(capsys, "convert", tmp_path / "mots" / "clip", "--from", "mots", "--to", "ytvis",
                          "--source", built.source, "--out", tmp_path / "y.json")
    assert code == 0 and "converted" in err and "export.annotations" in out
    assert len(json.loads((tmp_path / "y.json").read_text())["annotations"]) == 3


def test_dataset_split_from_the_command_line(built, tmp_path, capsys):
    other = make_project(tmp_path, frames=6, name="other", extras=False)
    code, out, _ = _run(capsys, "export", built.path, other.path, "--format", "ytvis",
                        "--out", tmp_path / "ds", "--split", "train=0.5,val=0.5", "--json")
    assert code == 0
    assert set(json.loads(out)["extra"]["split"]) == {"train", "val"}
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["train.json", "val.json"]


def test_errors_and_usage(built, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{nope")
    code, out, err = _run(capsys, "import", tmp_path / "bad.json", "--format", "coco",
                          "--source", built.source, "--project", tmp_path / "x.annot")
    assert code == 1 and out == ""
    assert err.strip().startswith("annotator: error: ") and "bad.json: not valid JSON" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.annot").exists()
    for argv in (["--objects", "42"], ["--frames", "9:3"], ["--stride", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["export", str(built.path), "--format", "coco", "--out", str(tmp_path / "c.json"), *argv])
        assert exit_info.value.code == 2
        capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(built.path), str(built.path), "--format", "davis", "--out", str(tmp_path / "d")])
    assert exit_info.value.code == 2
    assert not (tmp_path / "c.json").exists()


def test_entry_point_runs_in_a_subprocess(built, tmp_path):
    argv = [sys.executable, "-m", "annotator", "export", str(built.path), "--format", "davis",
            "--out", str(tmp_path / "d"), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["frames"] == 8
    assert (tmp_path / "d" / "clip" / "00007.png").is_file()
