"""Files the app ships: the icon and the sample video, found the same way in every install.

    from annotator.resources import icon_path, sample_video
    window.setWindowIcon(QIcon(str(icon_path())))

The files live in the repository's ``resources/`` folder (make_sample.py writes the sample
there). This package holds symlinks to them, which the wheel and sdist builds resolve into
real files (setuptools copies the content), so an installed wheel, an editable checkout and
a PyInstaller bundle all find them here through importlib.resources. A checkout where the
links did not survive (git on Windows without symlink support writes a small text file in
their place) falls back to the repository folder.
"""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path

ICON_SVG = "annotator.svg"
ICON_PNG = "annotator.png"  # 256 px
SAMPLE_VIDEO = "sample.mp4"
SAMPLE_GT = "sample_gt.json"
_MIN_REAL_SIZE = 256  # a link written out as text is its target path: far smaller than any of these files


def resource_path(name: str) -> Path | None:
    """The path of a shipped file, or None when this install lacks it."""
    packaged = Path(str(_resources.files(__name__).joinpath(name)))
    if _is_real(packaged):
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "resources" / name
    return checkout if _is_real(checkout) else None


def icon_path(svg: bool = False) -> Path | None:
    """The app icon: 256 px PNG (what Qt loads without its SVG plugin), or the SVG."""
    return resource_path(ICON_SVG if svg else ICON_PNG)


def sample_video() -> Path | None:
    """The bundled sample clip (640x360, 100 frames, three moving objects), if installed."""
    return resource_path(SAMPLE_VIDEO)


def _is_real(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size >= _MIN_REAL_SIZE
    except OSError:
        return False
