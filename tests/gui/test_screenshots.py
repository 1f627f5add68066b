"""Screenshots of the main states (welcome, clicked, propagated, timeline with confidence ...),
made by docs/make_screenshots.py (the script the user guide's images come from) into a temp
dir: the script keeps working, and every state renders something real."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

pytestmark = [pytest.mark.gui, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")]

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"


def load_script() -> object:
    spec = importlib.util.spec_from_file_location("make_screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def pixels(path: Path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    rows = data.reshape(image.height(), image.bytesPerLine())[:, :image.width() * 3]
    return rows.reshape(image.height(), image.width(), 3).copy()  # the QImage owns the buffer


def test_screenshots_of_the_main_states(qapp, tmp_path, sample_copy):
    script = load_script()
    shots = script.make_screenshots(tmp_path / "shots", objects=1)
    assert set(shots) == set(script.SHOTS)
    for name, path in shots.items():
        image = pixels(path)
        assert image.shape[0] > 100 and image.shape[1] > 300, name
        assert image.std() > 8, f"{name} looks blank"
    full = pixels(shots["propagated"])
    assert full.shape[:2] == (script.SIZE[1], script.SIZE[0])
    # The preview and the engine's answer look different (dashed outline and badge vs the mask).
    assert np.abs(pixels(shots["clicked"]).astype(int) - pixels(shots["preview"])).sum() > 1000


def test_user_guide_lists_every_command_and_embeds_every_screenshot():
    import re

    from annotator.gui.actions import SPECS

    guide_path = SCRIPT.parent / "user-guide.md"
    guide = guide_path.read_text(encoding="utf-8")
    described_elsewhere = ("zoom_in", "zoom_out", "models", "user_guide", "about")
    for spec in SPECS:
        if spec.id.startswith("select_") or spec.id in described_elsewhere:
            continue
        name = spec.text.replace("&", "").rstrip("…")
        assert f"| {name} |" in guide, f"the shortcut table misses {name!r}"
    embedded = set(re.findall(r"\(images/([\w-]+)\.(?:png|jpg)\)", guide))
    assert embedded == set(load_script().SHOTS), embedded
    for name in embedded:
        assert any((guide_path.parent / "images" / f"{name}.{ext}").exists() for ext in ("png", "jpg")), name
