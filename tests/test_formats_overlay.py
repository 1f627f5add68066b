"""The mask overlay video: a real H.264 file, decoded back with PyAV."""

from __future__ import annotations

import numpy as np
import pytest
from format_helpers import make_project

from annotator.core.video import open_video
from annotator.errors import OutputError
from annotator.formats import ExportOptions
from annotator.formats.overlay import export_overlay


def test_overlay_video_tints_the_masks(tmp_path):
    built = make_project(tmp_path, frames=8, video="mp4")
    summary = export_overlay(built.path, tmp_path / "review.mp4", ExportOptions(stride=2, alpha=0.8))
    assert summary.frames == 4
    with open_video(tmp_path / "review.mp4") as out, open_video(built.source) as src:
        assert (out.frame_count, out.width, out.height, out.codec) == (4, built.width, built.height, "h264")
        assert out.fps == pytest.approx(10.0)
        frame = out.frame(1).astype(np.int32)  # source frame 2
        original = src.frame(2).astype(np.int32)
    inside = built.masks[(2, 2)]
    core = inside.copy()
    for shift, axis in ((3, 0), (-3, 0), (3, 1), (-3, 1)):  # away from the outline and codec blur
        core &= np.roll(inside, shift, axis)
    # Object 2 is drawn in #ff7f0e: inside its mask the frame moves towards that orange.
    orange = np.array([255, 127, 14])
    before = np.abs(original[core] - orange).mean()
    after = np.abs(frame[core] - orange).mean()
    assert after < 0.5 * before
    untouched = ~np.any([m for (oid, f), m in built.masks.items() if f == 2], axis=0)
    far = untouched & np.roll(untouched, 6, 0) & np.roll(untouched, -6, 0) & np.roll(untouched, 6, 1) \
        & np.roll(untouched, -6, 1)
    far[:16] = False  # name labels sit above the boxes
    assert np.abs(frame[far] - original[far]).mean() < 6  # only codec noise outside the masks


def test_overlay_needs_a_video_name(tmp_path):
    built = make_project(tmp_path, frames=6, extras=False)
    with pytest.raises(OutputError, match="mp4"):
        export_overlay(built.path, tmp_path / "review.gif")
    export_overlay(built.path, tmp_path / "odd.mp4", ExportOptions(objects=(1,)))  # from a PNG folder
    assert list(p.name for p in tmp_path.glob("*.mp4")) == ["odd.mp4"]


def test_overlay_never_overwrites_its_source(tmp_path):
    built = make_project(tmp_path, frames=6, video="mp4", extras=False)
    before = built.source.read_bytes()
    with pytest.raises(OutputError, match="is an input of this export"):
        export_overlay(built.path, built.source)
    assert built.source.read_bytes() == before
