"""A small project with known masks for the format tests.

``make_project`` renders a synthetic scene (sim.synthetic.render_scene: three moving shapes,
one passing in front of another), writes its frames as a PNG folder (or an mp4), and stores the
ground-truth masks in a new project. It adds what exports must handle: a category per object
except one, an object with a hole and two parts, frames where objects are absent, a locked empty
mask, review marks, per-frame attributes and insights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.imageio import write_image
from annotator.core.project import Project, VideoRef
from annotator.core.video import open_video
from annotator.sim.synthetic import render_scene

HOLE_OBJECT = 4


@dataclass
class Built:
    path: Path  # the .annot file
    source: Path  # the frame folder or video
    masks: dict[tuple[int, int], np.ndarray]  # (object id, frame) -> HxW bool, non-empty only
    categories: dict[int, str | None]  # object id -> category name
    width: int
    height: int
    frames: int
    locked: set[tuple[int, int]] = field(default_factory=set)
    reviewed: set[tuple[int, int]] = field(default_factory=set)

    def open(self, readonly: bool = True) -> Project:
        return Project.open(self.path, readonly=readonly)


def ring_mask(height: int, width: int, frame: int) -> np.ndarray:
    """A ring (a hole in the middle) plus a separate square: holes and two parts."""
    m = np.zeros((height, width), np.uint8)
    cx, cy = width // 4 + frame, height // 4
    cv2.circle(m, (cx, cy), min(height, width) // 8, 1, -1)
    cv2.circle(m, (cx, cy), min(height, width) // 20, 0, -1)
    m[height - 20:height - 8, width - 30:width - 14] = 1
    return m.astype(bool)


def write_frames_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(frames):
        write_image(folder / f"{i:05d}.png", rgb)
    return folder


def write_mp4(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "10"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_project(tmp_path: Path, frames: int = 10, width: int = 160, height: int = 120, *,
                 name: str = "clip", video: str = "folder", extras: bool = True,
                 category_names: tuple[str | None, ...] = ("car", "person", None, "donut")) -> Built:
    rendered = list(render_scene(frames, width, height, seed=3))
    rgbs = [f for f, _ in rendered]
    if video == "mp4":
        source = write_mp4(tmp_path / f"{name}.mp4", rgbs)
    else:
        source = write_frames_folder(tmp_path / "frames" / name, rgbs)
    with open_video(source) as src:
        ref = VideoRef(path=str(Path(source).resolve()), fingerprint=src.fingerprint,
                       frame_count=src.frame_count, width=src.width, height=src.height, fps=src.fps,
                       codec=src.codec, rotation=src.rotation)
    path = tmp_path / f"{name}.annot"
    masks: dict[tuple[int, int], np.ndarray] = {}
    categories: dict[int, str | None] = {}
    with Project.create(path, ref) as project:
        n_objects = 4 if extras else 3
        for oid in range(1, n_objects + 1):
            cat = category_names[oid - 1]
            cid = project.ensure_category(cat).id if cat else None
            project.add_object(name=f"thing {oid}", category_id=cid, object_id=oid,
                               attributes={"kind": f"k{oid}"})
            categories[oid] = cat
        rows = []
        for t, (_, frame_masks) in enumerate(rendered):
            for oid, m in frame_masks.items():
                if extras and oid == 3 and t in (2, 3):
                    continue  # object 3 absent on frames 2-3 (the track has a gap)
                if m.any():
                    masks[(oid, t)] = m
                    rows.append((oid, t, rle_ops.encode(m), "tracked", 0.5 + 0.05 * oid, False))
            if extras and t % 2 == 0:
                m = ring_mask(height, width, t)
                masks[(HOLE_OBJECT, t)] = m
                rows.append((HOLE_OBJECT, t, rle_ops.encode(m), "user", None, False))
        project.set_masks(rows, record_history=False)
        built = Built(path, Path(source), masks, categories, width, height, frames)
        if extras:
            for oid, t in ((1, 0), (2, 0), (1, 5)):
                project.set_locked(oid, t, True)
                built.locked.add((oid, t))
            project.set_locked(3, 2, True)  # a locked empty mask: "verified absent"
            built.locked.add((3, 2))
            for oid, t in ((1, 1), (2, 1), (1, 4)):
                project.set_reviewed(oid, t, True)
                built.reviewed.add((oid, t))
            project.set_frame_attributes(1, 3, {"occluded": True})
            project.add_insight("caption", {"text": "a red ellipse"}, object_id=1, model="blip-base")
            project.add_insight("scene", {"label": "synthetic"})
    return built


def mask_of(rle: dict) -> np.ndarray:
    return rle_ops.decode(rle)


def project_masks(path: Path) -> dict[tuple[int, int], np.ndarray]:
    """(object id, frame) -> mask for every non-empty mask of a project."""
    with Project.open(path, readonly=True) as project:
        return {(r.object_id, r.frame): rle_ops.decode(r.rle) for r in project.iter_masks() if r.area > 0}


def object_categories(path: Path) -> dict[int, str]:
    """object id -> the name of its category, for every object of a project."""
    with Project.open(path, readonly=True) as project:
        names = {c.id: c.name for c in project.categories()}
        return {o.id: names[o.category_id] for o in project.objects()}


def assert_round_trip(built: Built, summary: object, back: Path) -> None:
    """The import ``summary`` of project ``back`` gave back every mask of ``built`` exactly, each
    object with its category (the default "object" where it had none)."""
    assert summary.masks == len(built.masks)  # type: ignore[attr-defined]
    masks = project_masks(back)
    assert masks.keys() == built.masks.keys()
    assert all(np.array_equal(masks[k], built.masks[k]) for k in built.masks)
    assert object_categories(back) == {oid: cat or "object" for oid, cat in built.categories.items()}


def within_boundary(got: np.ndarray, want: np.ndarray, tolerance: float) -> bool:
    """Every pixel where ``got`` and ``want`` differ lies within ``tolerance`` px of ``want``'s
    boundary: what "the polygon is within the simplification tolerance" means for the mask."""
    inside = cv2.distanceTransform(want.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~want).astype(np.uint8), cv2.DIST_L2, 5)
    distance = np.where(want, inside, outside)  # distance to the nearest pixel of the other side
    return bool(np.all(distance[got != want] <= tolerance))
