"""Render resources/annotator.svg to resources/annotator.png (256 px), and optional preview sizes.

    .venv/bin/python packaging/render_icon.py [--preview DIR]

Uses Qt's SVG renderer (in PySide6-Essentials), so the PNG matches what the app draws.
``--preview DIR`` also writes 16/32/48/64 px copies there, to check the icon stays legible small.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SVG = REPO / "resources" / "annotator.svg"
PNG = REPO / "resources" / "annotator.png"


def render(svg: Path, out: Path, size: int) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"{out}: could not write")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preview", type=Path, help="also write 16/32/48/64 px PNGs into this folder")
    args = parser.parse_args()
    render(SVG, PNG, 256)
    print(f"wrote {PNG}")
    if args.preview:
        args.preview.mkdir(parents=True, exist_ok=True)
        for size in (16, 32, 48, 64):
            render(SVG, args.preview / f"annotator-{size}.png", size)
        print(f"previews in {args.preview}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
