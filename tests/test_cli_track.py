"""`annotator track` on a frame folder: a Session over a throw-away store, one label PNG per
frame in --out, nothing written beside the frames, the JSON keys of the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from annotator.cli.main import main
from annotator.core import masks as rle_ops
from annotator.core.imageio import read_label_png, write_image, write_label_png
from annotator.sim.synthetic import render_scene

FRAMES = 8
INIT = 3


def _clip(folder: Path) -> list[dict[int, np.ndarray]]:
    """A small synthetic clip as PNG frames; returns the true masks per frame."""
    folder.mkdir(parents=True)
    truth = []
    for i, (frame, masks) in enumerate(render_scene(FRAMES, 160, 96, seed=3)):
        write_image(folder / f"{i:05d}.png", frame)
        truth.append(masks)
    return truth


def test_track_both_ways_writes_one_png_per_frame_and_nothing_beside_the_source(tmp_path, capsys):
    frames = tmp_path / "frames"
    truth = _clip(frames)
    before = sorted(p.name for p in frames.iterdir())
    init = np.zeros((96, 160), np.uint8)
    for oid, mask in truth[INIT].items():
        init[mask] = oid
    write_label_png(tmp_path / "init.png", init)
    out = tmp_path / "out"

    assert main(["track", str(frames), "--init", str(tmp_path / "init.png"), "--init-frame", str(INIT),
                 "--tracker", "classical", "--direction", "both", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == ["tracker", "frames", "fps", "peak_rss_mb", "peak_vram_mb"]
    assert summary["tracker"] == "classical" and summary["frames"] == FRAMES
    assert sorted(p.name for p in out.iterdir()) == [f"{i:05d}.png" for i in range(FRAMES)]
    assert sorted(p.name for p in frames.iterdir()) == before  # no project, no lock beside the frames
    assert np.array_equal(read_label_png(out / f"{INIT:05d}.png"), init)
    for frame in (0, FRAMES - 1):  # the ends, carried from the init frame both ways
        labels = read_label_png(out / f"{frame:05d}.png")
        for oid, mask in truth[frame].items():
            if mask.sum() > 300:  # the two large shapes (the classical tracker loses the small one here)
                got = rle_ops.encode(labels == oid)
                assert rle_ops.iou(got, rle_ops.encode(mask)) > 0.5, (frame, oid)
