"""Mask overlays on the canvas: one colour fill per object plus crisp outlines.

The fill of every object on the frame is composited into one RGBA image (one pixmap item,
its opacity is the slider, so moving the slider redraws nothing); outlines are vector
paths with a cosmetic pen, so they stay one screen pixel wide at any zoom. Decoded masks
and their contours are kept in a small cache bounded in bytes, keyed by the RLE itself,
so replaying or scrubbing over frames already seen decodes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsScene

from annotator.app.values import MaskRecord, ObjectInfo, decode_mask

Z_FILL = 1.0
Z_OUTLINE = 2.0


@dataclass
class _Decoded:
    mask: np.ndarray  # HxW bool
    path: QPainterPath  # outline in frame pixels
    nbytes: int


class MaskCache:
    """Decoded masks and outlines, least recently used out first, bounded in bytes."""

    def __init__(self, max_bytes: int = 192 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, _Decoded] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, record: MaskRecord) -> _Decoded:
        key = (record.object_id, record.frame, record.rle["counts"])
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
            self.hits += 1
            return item
        self.misses += 1
        mask = decode_mask(record)
        item = _Decoded(mask, outline_path(mask), mask.nbytes + len(record.rle["counts"]))
        self._items[key] = item
        self._bytes += item.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return item

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


def outline_path(mask: np.ndarray) -> QPainterPath:
    """The mask's contours (outer and holes) as a path in frame pixel coordinates."""
    path = QPainterPath()
    if not mask.any():
        return path
    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        points = contour.reshape(-1, 2).astype(np.float64) + 0.5  # pixel centres
        if len(points) < 2:
            continue
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
        path.closeSubpath()
    return path


def rgb_image(rgb: np.ndarray) -> QImage:
    """A QImage over a contiguous HxWx3 uint8 array (the caller keeps the array alive)."""
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888)


class OverlayLayer:
    """Draws the masks of one frame into a QGraphicsScene (the canvas's)."""

    def __init__(self, scene: QGraphicsScene, cache: MaskCache | None = None) -> None:
        self.cache = cache or MaskCache()
        self._fill = QGraphicsPixmapItem()
        self._fill.setZValue(Z_FILL)
        self._fill.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._fill.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        scene.addItem(self._fill)
        self._scene = scene
        self._outlines: dict[int, QGraphicsPathItem] = {}
        self._fill_rgba: np.ndarray | None = None
        self.opacity = 0.45
        self.outline_only = False
        self.visible = True
        self._fill.setOpacity(self.opacity)
        self.drawn_objects: list[int] = []  # ids drawn on the current frame (tests, HUD)

    # --- settings ---------------------------------------------------------------------------
    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self._fill.setOpacity(self.opacity)

    def set_outline_only(self, outline_only: bool) -> None:
        self.outline_only = outline_only
        self._fill.setVisible(self.visible and not outline_only)

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        self._fill.setVisible(visible and not self.outline_only)
        for item in self._outlines.values():
            item.setVisible(visible)

    # --- drawing --------------------------------------------------------------------------------
    def show(self, records: Iterable[MaskRecord], objects: dict[int, ObjectInfo], selected: int | None,
             shape: tuple[int, int]) -> None:
        """Draw ``records`` (one frame's masks); hidden objects and empty masks are skipped."""
        h, w = shape
        drawn = [r for r in records
                 if r.object_id in objects and not objects[r.object_id].hidden and r.area > 0]
        # The selected object is drawn last, so it is on top where objects overlap.
        drawn.sort(key=lambda r: (r.object_id == selected, r.object_id))
        if self._fill_rgba is None or self._fill_rgba.shape[:2] != (h, w):
            self._fill_rgba = np.zeros((h, w, 4), np.uint8)
        else:
            self._fill_rgba[:] = 0
        rgba = self._fill_rgba
        keep: set[int] = set()
        for record in drawn:
            decoded = self.cache.get(record)
            if decoded.mask.shape != (h, w):
                continue
            color = QColor(objects[record.object_id].color)
            x, y, bw, bh = (int(round(v)) for v in record.bbox)
            crop = decoded.mask[y:y + bh, x:x + bw]
            rgba[y:y + bh, x:x + bw][crop] = (color.red(), color.green(), color.blue(), 255)
            self._set_outline(record.object_id, decoded.path, color, record.object_id == selected)
            keep.add(record.object_id)
        for oid in [o for o in self._outlines if o not in keep]:
            self._scene.removeItem(self._outlines.pop(oid))
        image = QImage(rgba.data, w, h, rgba.strides[0], QImage.Format.Format_RGBA8888)
        self._fill.setPixmap(QPixmap.fromImage(image))
        self._fill.setVisible(self.visible and not self.outline_only)
        self.drawn_objects = [r.object_id for r in drawn]

    def clear(self) -> None:
        self._fill.setPixmap(QPixmap())
        for item in self._outlines.values():
            self._scene.removeItem(item)
        self._outlines.clear()
        self.drawn_objects = []

    def object_at(self, x: float, y: float, records: Iterable[MaskRecord]) -> int | None:
        """The topmost drawn object whose mask covers frame pixel (x, y)."""
        xi, yi = int(x), int(y)
        for record in sorted(records, key=lambda r: r.object_id, reverse=True):
            if record.object_id not in self.drawn_objects:
                continue
            mask = self.cache.get(record).mask
            if 0 <= yi < mask.shape[0] and 0 <= xi < mask.shape[1] and mask[yi, xi]:
                return record.object_id
        return None

    def _set_outline(self, oid: int, path: QPainterPath, color: QColor, selected: bool) -> None:
        item = self._outlines.get(oid)
        if item is None:
            item = QGraphicsPathItem()
            item.setZValue(Z_OUTLINE)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
            self._scene.addItem(item)
            self._outlines[oid] = item
        pen = QPen(color.lighter(125) if selected else color, 2.4 if selected else 1.4)
        pen.setCosmetic(True)  # constant width on screen, whatever the zoom
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        item.setPen(pen)
        item.setPath(path)
        item.setVisible(self.visible)
