"""Search with SigLIP 2 end to end, as tests/test_search_cli.py does with CLIP: tiny random
snapshots laid out like the real ones (tests/tiny_siglip.py), installed as ``siglip2-base``,
through ``annotator search``: the index built once in the cache, the query, ``--like``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli.main import main
from tests.session_helpers import SAMPLE_GT
from tests.tiny_describe import install, sample_project


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return sample_project(tmp_path)


@pytest.mark.parametrize("layout", ["fixed", "naflex"])
def test_search_with_siglip2_builds_the_index_once_and_ranks(project_path, tmp_path, capsys, layout):
    from annotator.engines.embedder import load_snapshot
    from tests import tiny_siglip

    build = tiny_siglip.build_siglip2_fixed if layout == "fixed" else tiny_siglip.build_siglip2_naflex
    folder = install("siglip2-base", build(tmp_path / f"tiny-siglip2-{layout}"))
    model, processor, _family = load_snapshot(folder)  # the class its config names
    assert type(model).__name__ == ("SiglipModel" if layout == "fixed" else "Siglip2Model")
    assert "Gemma" in type(processor.tokenizer).__name__ or "Siglip2" in type(processor.tokenizer).__name__

    argv = ["search", str(project_path), "a red car", "--top", "5", "--model", "siglip2-base", "--json",
            "--device", "cpu"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["query"] == "a red car" and doc["model"] == "siglip2-base" and len(doc["hits"]) == 5
    scores = [h["score"] for h in doc["hits"]]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    assert "indexed 9 frames and 27 object crops" in err  # 100 frames at 25 fps: every 12th
    assert main(argv) == 0
    out2, err2 = capsys.readouterr()
    assert "indexed" not in err2 and json.loads(out2)["hits"] == doc["hits"]  # the index is kept

    assert main(["search", str(project_path), "--like", "2", "--top", "8", "--model", "siglip2-base",
                 "--json", "--device", "cpu"]) == 0
    like = json.loads(capsys.readouterr()[0])
    assert like["query"] == "like object 2" and len(like["hits"]) == 8
    assert all(h["object_id"] != 2 for h in like["hits"])
