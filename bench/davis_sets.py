"""The nine development sequences: davis16-mini (3) and davis16-dev (6), wherever they are.

Benches import ``sequences()`` so every quality figure is measured on all nine, per sequence.
``ANNOTATOR_DAVIS_DIRS`` (colon-separated) overrides the two default folders beside the repo.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_DIRS = (DATA / "davis16-mini", DATA / "davis16-dev")


def roots() -> list[Path]:
    env = os.environ.get("ANNOTATOR_DAVIS_DIRS")
    dirs = [Path(p) for p in env.split(":")] if env else list(DEFAULT_DIRS)
    return [d for d in dirs if (d / "JPEGImages" / "480p").is_dir()]


def sequences(only: str | None = None) -> list[tuple[str, Path]]:
    """(name, root) of every sequence found, in folder order; ``only``: comma-separated names."""
    found = [(p.name, root) for root in roots() for p in sorted((root / "JPEGImages" / "480p").iterdir())
             if p.is_dir()]
    if only:
        wanted = only.split(",")
        missing = set(wanted) - {name for name, _ in found}
        if missing:
            raise SystemExit(f"sequence(s) not found under {', '.join(map(str, roots()))}: "
                             f"{', '.join(sorted(missing))}")
        found = [(n, r) for n, r in found if n in wanted]
    if not found:
        raise SystemExit("no DAVIS sequences found (set ANNOTATOR_DAVIS_DIRS)")
    return found


def load(seq: str, root: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """RGB frames and ground-truth bool masks of one sequence."""
    from annotator.core.imageio import read_image
    from annotator.core.metrics import read_davis_mask

    frames = [read_image(p) for p in sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))]
    gts = [read_davis_mask(p) > 0 for p in sorted((root / "Annotations" / "480p" / seq).glob("*.png"))]
    return frames, gts
