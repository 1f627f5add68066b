"""`annotator eval`: the CLI contract (JSON keys, exit codes, one-line errors) on real and toy data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from annotator.cli.main import main
from annotator.core.imageio import write_label_png


def _toy_dataset(root: Path, shift: int = 0) -> None:
    for name, objects in (("one", 1), ("two", 2)):
        folder = root / name
        folder.mkdir(parents=True)
        for t in range(5):
            lab = np.zeros((40, 60), np.uint8)
            lab[5:20, 5 + 2 * t + shift:20 + 2 * t + shift] = 1
            if objects == 2:
                lab[25:35, 30:50] = 2
            write_label_png(folder / f"{t:05d}.png", lab)


def test_json_document_follows_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _toy_dataset(tmp_path / "gt")
    _toy_dataset(tmp_path / "pred")
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON document
    assert {"J&F", "J", "F", "per_sequence"} <= set(doc)
    assert doc["J&F"] == doc["J"] == doc["F"] == 1.0
    assert set(doc["per_sequence"]) == {"one", "two"}
    two = doc["per_sequence"]["two"]
    assert {"J&F", "J", "F", "objects"} <= set(two)
    assert set(two["objects"]) == {"1", "2"}
    assert two["objects"]["2"]["J"] == 1.0 and two["objects"]["2"]["F"] == 1.0


def test_sequences_option_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _toy_dataset(tmp_path / "gt")
    _toy_dataset(tmp_path / "pred", shift=2)
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                 "--sequences", "two"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["sequence", "object", "J&F", "J", "F"]
    assert any(line.startswith("two") and line.split()[1] == "2" for line in lines)
    assert not any(line.startswith("one") for line in lines)
    assert any(line.startswith("global") for line in lines)
    assert "1 sequence(s) evaluated" in err


def test_errors_are_one_line_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _toy_dataset(tmp_path / "gt")
    _toy_dataset(tmp_path / "pred")
    (tmp_path / "pred" / "one" / "00003.png").unlink()
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "00003.png" in err and "missing" in err


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--pred", "somewhere"])
    assert exc.value.code == 2


@pytest.mark.davis
def test_official_osvos_numbers_through_the_cli(davis_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = json.loads((davis_dir / "reference" / "davis-eval-official.json").read_text())
    code = main(["eval", "--gt", str(davis_dir / "Annotations" / "480p"),
                 "--pred", str(davis_dir / "results-osvos-davis2017"),
                 "--sequences", "car-shadow,blackswan", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["J&F"] == pytest.approx(0.940731, abs=1e-4)
    assert doc["J"] == pytest.approx(ref["osvos_raw_single_object"]["global"]["J-Mean"], abs=1e-4)
    assert doc["F"] == pytest.approx(ref["osvos_raw_single_object"]["global"]["F-Mean"], abs=1e-4)
    car = doc["per_sequence"]["car-shadow"]
    assert car["objects"]["1"]["J"] == pytest.approx(0.928402, abs=1e-4)
    assert car["objects"]["1"]["F"] == pytest.approx(0.917407, abs=1e-4)
