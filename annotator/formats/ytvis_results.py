"""YouTube-VIS results that take their ids from a ground-truth file (``--results --gt GT.json``).

The official evaluator pairs a result with ground truth by ``video_id`` and ``category_id``
alone, so ids numbered by the export's own order (video 1 = the first project on the command
line) score zero, without a word, against any other file. With a ground truth:

- each exported video is found in the ground truth by its full ``file_names`` entries,
  ``<folder>/<frame>`` (``00000.jpg`` repeats in every video, so the folder must match too; the
  extension may differ, e.g. PNG frames against a ``.jpg`` list), and takes that video's ``id``;
- each result's ``segmentations`` follow that video's ``file_names``: position i is the mask on
  the frame ``file_names[i]`` names, or null where the export has none;
- ``category_id`` is the ground truth's id of the category with the same name (case, spaces,
  hyphens and underscores ignored);
- a video or category that is not in the ground truth is a FormatError naming it and the file,
  raised before anything is written.

So the results score the same whatever the order of the projects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.errors import FormatError
from annotator.formats.common import load_json, rle_json
from annotator.formats.selection import VideoEntry, track_score


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _split_name(file_name: str) -> tuple[str, str]:
    """'car-shadow/00000.jpg' -> ('car-shadow', '00000')."""
    folder, _, base = file_name.replace("\\", "/").rpartition("/")
    return folder, base.rsplit(".", 1)[0] if "." in base else base


@dataclass
class MatchedVideo:
    video_id: int  # the ground truth's id
    frames: list[int]  # our frame index for each of its file_names


class GroundTruthIds:
    """The video and category ids of a YouTube-VIS ground-truth file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        doc = load_json(self.path)
        if not isinstance(doc, dict) or not isinstance(doc.get("videos"), list) \
                or not isinstance(doc.get("categories"), list):
            raise FormatError("not a YouTube-VIS ground-truth file (needs 'videos' and 'categories')",
                              self.path)
        self._videos: dict[str, list[tuple[int, list[str]]]] = {}  # folder -> [(id, stems)]
        for k, video in enumerate(doc["videos"]):
            names = video.get("file_names") if isinstance(video, dict) else None
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names) \
                    or not isinstance(video.get("id"), int):
                raise FormatError(f"videos[{k}]: needs an integer 'id' and a list of 'file_names'", self.path)
            split = [_split_name(n) for n in names]
            folders = {f for f, _ in split}
            if len(folders) != 1:
                listed = ", ".join(sorted(folders))
                raise FormatError(f"videos[{k}]: file_names span several folders ({listed})", self.path)
            self._videos.setdefault(split[0][0], []).append((video["id"], [s for _, s in split]))
        self._categories: dict[str, int] = {}
        for k, cat in enumerate(doc["categories"]):
            if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) \
                    or not isinstance(cat.get("name"), str):
                raise FormatError(f"categories[{k}]: needs an integer 'id' and a 'name'", self.path)
            self._categories.setdefault(_norm(cat["name"]), cat["id"])
        self._category_names = [c["name"] for c in doc["categories"]]

    def match(self, video: VideoEntry) -> MatchedVideo:
        """The ground-truth video whose file_names are this video's frames."""
        candidates = self._videos.get(video.name, [])
        if not candidates:
            known = ", ".join(sorted(self._videos)[:8]) + (" ..." if len(self._videos) > 8 else "")
            raise FormatError(f"video {video.name!r} is not in the ground truth (its videos: {known})",
                              self.path)
        ours = {video.names.stem(i): i for i in range(video.plan.frame_count)}
        for video_id, stems in candidates:
            if all(s in ours for s in stems):
                return MatchedVideo(video_id, [ours[s] for s in stems])
        missing = next(s for s in candidates[0][1] if s not in ours)
        raise FormatError(f"video {video.name!r}: the ground truth names frame {video.name}/{missing}, which "
                          f"{video.name} does not have ({video.plan.frame_count} frames)", self.path)

    def category_id(self, name: str) -> int:
        cid = self._categories.get(_norm(name))
        if cid is None:
            raise FormatError(f"category {name!r} is not in the ground truth (its categories: "
                              f"{', '.join(self._category_names[:12])})", self.path)
        return cid


def matched_results(videos: list[VideoEntry], gt_path: str | Path) -> list[tuple[VideoEntry, MatchedVideo,
                                                                                  dict[int, int]]]:
    """Every video matched to the ground truth, with its objects' category ids: checked up front, so
    a missing video or category fails before anything is written."""
    gt = GroundTruthIds(gt_path)
    out = []
    for video in videos:
        plan = video.plan
        categories = {o.id: gt.category_id(plan.category_name_of[o.id]) for o in plan.objects_with_content()}
        out.append((video, gt.match(video), categories))
    return out


def result_chunks(video: VideoEntry, matched: MatchedVideo, category_id: int, obj: Any) -> Iterator[str]:
    """One result (a JSON text in chunks): the object's masks on the ground truth's frames."""
    plan = video.plan
    score = track_score(video.project, obj.id, plan)
    yield f'{{"video_id":{matched.video_id},"category_id":{category_id},"score":{score!r},"segmentations":['
    wanted = {f for f in matched.frames if plan.has_frame(f)}
    masks = {rec.frame: rec.rle for rec in plan.iter_masks([obj.id]) if rec.frame in wanted}
    for k, frame in enumerate(matched.frames):
        yield ("," if k else "") + (rle_json(masks[frame]) if frame in masks else "null")
    yield "]}"
