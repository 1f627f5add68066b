"""Benchmark exports on the real DAVIS-2016 sequences (all nine: davis16-mini and davis16-dev).

- every sequence: a MOTS export decoded back equals the DAVIS PNGs pixel for pixel, and the MOT
  boxes equal the masks' bounding boxes;
- YouTube-VIS results of the OSVOS masks, matched to the official ground-truth file with
  ``--gt``, reproduce the official AP (0.664356) whatever the order of the projects;
- ``annotator eval --format ytvis`` reproduces the official numbers from the reference files.

Skips, saying why, when the shared data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from annotator.cli.main import main
from annotator.core import masks as rle_ops
from annotator.core.imageio import read_label_png
from annotator.core.project import Project, VideoRef
from annotator.core.video import open_video
from annotator.core.vis_metrics import evaluate_ytvis
from annotator.errors import FormatError
from annotator.formats import ExportOptions, export_projects
from annotator.formats.davis import import_davis
from annotator.formats.mot import export_mot, export_mots

MINI = ("car-shadow", "blackswan", "bmx-trees")
DEV = ("breakdance", "car-roundabout", "cows", "dog", "goat", "horsejump-high")


def _root(davis_dir: Path, sequence: str) -> Path:
    """davis16-mini (the ``davis_dir`` fixture) or davis16-dev beside it."""
    root = davis_dir if sequence in MINI else davis_dir.parent / "davis16-dev"
    if not (root / "Annotations" / "480p" / sequence).is_dir():
        pytest.skip(f"DAVIS sequence {sequence} not found under {root} (set ANNOTATOR_DAVIS_DIR)")
    return root


def _png_masks(folder: Path) -> dict[int, np.ndarray]:
    """frame -> the DAVIS-2016 object mask (255 = object), for every PNG of the sequence."""
    return {int(p.stem): read_label_png(p) > 0 for p in sorted(folder.glob("*.png"))}


@pytest.mark.parametrize("sequence", MINI + DEV)
def test_mots_equals_the_davis_pngs_and_mot_boxes_their_bboxes(davis_dir, sequence, tmp_path):
    root = _root(davis_dir, sequence)
    pngs = _png_masks(root / "Annotations" / "480p" / sequence)
    project = tmp_path / f"{sequence}.annot"
    import_davis(root / "Annotations" / "480p" / sequence, root / "JPEGImages" / "480p" / sequence, project)
    options = ExportOptions(class_map=(("object", 2),))  # DAVIS objects as MOTS pedestrians
    export_mots(project, tmp_path / "mots", options)
    export_mot(project, tmp_path / "mot", ExportOptions(class_map=(("object", 1),)))

    decoded: dict[int, np.ndarray] = {}
    for line in (tmp_path / "mots" / sequence / "gt" / "gt.txt").read_text().splitlines():
        frame, tid, cls, h, w, counts = line.split(" ")
        assert (tid, cls) == ("2001", "2")
        decoded[int(frame) - 1] = coco_mask.decode({"size": [int(h), int(w)], "counts": counts.encode()}) > 0
    assert decoded.keys() == {f for f, m in pngs.items() if m.any()}
    for frame, mask in pngs.items():
        assert np.array_equal(decoded.get(frame, np.zeros_like(mask)), mask), f"{sequence} frame {frame}"

    boxes = {}
    for line in (tmp_path / "mot" / sequence / "gt" / "gt.txt").read_text().splitlines():
        frame, tid, x, y, w, h, conf, cls, vis = (float(v) for v in line.split(","))
        assert (tid, conf, cls) == (1, 1, 1)
        boxes[int(frame) - 1] = (x - 1, y - 1, w, h)  # MOTChallenge pixels count from 1
    for frame, mask in pngs.items():
        if mask.any():
            ys, xs = np.nonzero(mask)
            assert boxes[frame] == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        else:
            assert frame not in boxes


def _osvos_project(davis_dir: Path, tmp_path: Path, sequence: str) -> Path:
    """A project over the sequence's frames holding the OSVOS masks merged to one object, as the
    reference results file was made (score None counts as 1.0)."""
    frames = davis_dir / "JPEGImages" / "480p" / sequence
    with open_video(frames) as src:
        ref = VideoRef(path=str(frames.resolve()), fingerprint=src.fingerprint,
                       frame_count=src.frame_count, width=src.width, height=src.height, fps=src.fps,
                       codec=src.codec, rotation=src.rotation)
    path = tmp_path / f"{sequence}.annot"
    with Project.create(path, ref) as project:
        project.add_object(name=sequence, category_id=project.ensure_category("object").id, object_id=1)
        rows = [(1, int(p.stem), rle_ops.encode(read_label_png(p) > 0), "imported", None, False)
                for p in sorted((davis_dir / "results-osvos-davis2017" / sequence).glob("*.png"))]
        project.set_masks(rows, record_history=False)
    return path


def test_results_matched_to_the_ground_truth_score_the_official_ap_in_any_order(davis_dir, tmp_path):
    reference = davis_dir / "reference"
    official = json.loads((reference / "ytvis-eval-official.json").read_text())["stats"]
    projects = {s: _osvos_project(davis_dir, tmp_path, s) for s in MINI}
    gt = reference / "ytvis-gt.json"
    scores = []
    for k, order in enumerate((MINI, MINI[::-1], ("blackswan", "bmx-trees", "car-shadow"))):
        out = tmp_path / f"results{k}.json"
        export_projects([projects[s] for s in order], "ytvis", out, ExportOptions(results=True, gt=str(gt)))
        stats = evaluate_ytvis(gt, out).stats
        scores.append({key: round(stats[key], 6) for key in ("AP", "AP50", "AP75", "AR1", "AR10")})
    assert scores[0] == scores[1] == scores[2]
    assert scores[0] == {key: official[key] for key in scores[0]}
    assert scores[0]["AP"] == 0.664356
    # Without --gt, the ids follow the command line: the reversed order no longer matches.
    export_projects([projects[s] for s in MINI[::-1]], "ytvis", tmp_path / "plain.json",
                    ExportOptions(results=True))
    assert round(evaluate_ytvis(gt, tmp_path / "plain.json").stats["AP"], 6) != 0.664356


def test_results_fail_clearly_when_a_video_or_category_is_missing(davis_dir, tmp_path):
    reference = davis_dir / "reference"
    gt = json.loads((reference / "ytvis-gt.json").read_text())
    project = _osvos_project(davis_dir, tmp_path, "blackswan")
    only_car = dict(gt, videos=[v for v in gt["videos"] if v["file_names"][0].startswith("car-shadow/")])
    (tmp_path / "car.json").write_text(json.dumps(only_car))
    with pytest.raises(FormatError, match="video 'blackswan' is not in the ground truth"):
        export_projects([project], "ytvis", tmp_path / "r.json", ExportOptions(results=True,
                                                                              gt=str(tmp_path / "car.json")))
    renamed = dict(gt, categories=[{"id": 1, "name": "swan", "supercategory": "bird"}])
    (tmp_path / "swan.json").write_text(json.dumps(renamed))
    with pytest.raises(FormatError, match="category 'object' is not in the ground truth"):
        export_projects([project], "ytvis", tmp_path / "r.json", ExportOptions(results=True,
                                                                              gt=str(tmp_path / "swan.json")))
    assert not (tmp_path / "r.json").exists()


def test_eval_ytvis_reproduces_the_official_numbers(davis_dir, capsys):
    reference = davis_dir / "reference"
    official = json.loads((reference / "ytvis-eval-official.json").read_text())["stats"]
    code = main(["eval", "--format", "ytvis", "--gt", str(reference / "ytvis-gt.json"),
                 "--pred", str(reference / "ytvis-results-osvos.json"), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["AP"] == 0.664356
    assert {k: doc[k] for k in ("AP", "AP50", "AP75", "AR1", "AR10")} == \
        {k: official[k] for k in ("AP", "AP50", "AP75", "AR1", "AR10")}
    assert main(["eval", "--format", "ytvis", "--gt", str(reference / "ytvis-gt.json"),
                 "--pred", str(reference / "ytvis-results-osvos.json")]) == 0
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.664" in \
        capsys.readouterr().out
