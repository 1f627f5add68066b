"""Search by text or by example: ranking, segments, the incremental index, crops, faiss.

A deterministic stub embedder maps an image to a vector by its dominant colour (red, green,
blue, grey) and a phrase by a fixed table, so the expected ranking and segments are known
exactly. tests/test_search_cli.py runs the real tiny-CLIP path end to end.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from annotator.app.describe.search import build_index, search, stride_for
from annotator.core import masks as rle
from annotator.core.project import Project
from annotator.core.records import VideoRef
from annotator.core.search_index import SearchIndex, index_file, normalise, scores, segments, top_k
from annotator.engines.tracker import ListFrames
from annotator.errors import CancelledError

DIM = 4
COLOURS = {"red": 0, "green": 1, "blue": 2}
PHRASES = {"a red car": 0, "a green field": 1, "the blue sky": 2}
FPS = 10.0
N = 100
RED_FRAMES = list(range(20, 36)) + list(range(70, 76))  # a red square on these frames


class StubEmbedder:
    """Dominant colour -> a basis vector (grey: the fourth). Counts the images it embeds."""

    name = "stub"
    dim = DIM

    def __init__(self) -> None:
        self.images = 0

    def embed_images(self, images):
        self.images += len(images)
        rows = []
        for image in images:
            mean = np.asarray(image, np.float32).reshape(-1, 3).mean(axis=0)
            vec = np.full(DIM, 0.05, np.float32)
            top = int(np.argmax(mean))
            vec[top if mean[top] - np.median(mean) > 20 else 3] = 1.0
            rows.append(vec)
        return normalise(np.stack(rows))

    def embed_texts(self, texts):
        rows = []
        for text in texts:
            vec = np.full(DIM, 0.05, np.float32)
            vec[PHRASES.get(text, 3)] = 1.0
            rows.append(vec)
        return normalise(np.stack(rows))


def red_square_mask() -> np.ndarray:
    mask = np.zeros((48, 64), bool)
    mask[10:40, 12:44] = True
    return mask


@pytest.fixture()
def video() -> ListFrames:
    frames = []
    for i in range(N):
        frame = np.full((48, 64, 3), 128, np.uint8)
        if i in RED_FRAMES:
            frame[red_square_mask()] = (230, 20, 20)
        frames.append(frame)
    return ListFrames(frames)


@pytest.fixture()
def index(tmp_path):
    with SearchIndex(tmp_path / "index.sqlite", "stub", DIM) as idx:
        yield idx


def test_stride_is_about_two_frames_a_second():
    assert stride_for(25.0) == 12 and stride_for(30.0) == 15 and stride_for(1.0) == 1
    with pytest.raises(ValueError):
        stride_for(25.0, 0)


def test_block_scores_equal_a_plain_product_and_top_k_is_ordered():
    rng = np.random.default_rng(0)
    matrix = normalise(rng.normal(size=(1000, 16)))
    query = normalise(rng.normal(size=16))[0]
    got = scores(matrix, query, block=64)  # many blocks
    np.testing.assert_allclose(got, matrix @ query, atol=1e-6)
    best = top_k(got, 5)
    assert list(best) == list(np.argsort(-got)[:5])
    assert len(top_k(got, 5000)) == 1000 and len(top_k(got, 0)) == 0


def test_a_phrase_ranks_the_frames_that_show_it_and_finds_the_time_segments(video, index):
    embedder = StubEmbedder()
    stride = 2
    built = build_index(index, video, None, embedder, stride=stride)
    assert built == {"frames": N // stride, "crops": 0}
    result = search(index, embedder, FPS, query="a red car", top=10)
    assert result.query == "a red car" and result.model == "stub"
    assert [h.frame for h in result.hits] == sorted(h.frame for h in result.hits)  # ties: by frame
    assert all(h.frame in RED_FRAMES and h.object_id is None for h in result.hits)
    assert result.hits[0].time_s == pytest.approx(result.hits[0].frame / FPS)
    spans = [(s.start, s.stop) for s in result.segments]
    assert spans == [(20, 34), (70, 74)]  # indexed frames are the even ones
    assert result.segments[0].start_s == pytest.approx(2.0)
    other = search(index, embedder, FPS, query="the blue sky", top=3)
    assert other.segments == []  # nothing stands out: no segment


def test_segments_need_neighbours_and_a_robust_floor():
    frames = np.arange(0, 40, 2)
    values = np.zeros(len(frames), np.float32)
    values[[3, 4, 5]] = 0.9  # frames 6..10: one run
    values[12] = 0.8  # frame 24 alone: a segment of one frame
    found = segments(frames, values, fps=2.0)
    expected = [(6, 10, pytest.approx(0.9)), (24, 24, pytest.approx(0.8))]
    assert [(s.start, s.stop, s.score) for s in found] == expected
    assert found[0].stop_s == pytest.approx(5.0)
    assert segments(frames, values, fps=2.0, floor=0.85)[0].stop == 10
    assert segments(np.zeros(0), np.zeros(0), 2.0) == []


def test_the_index_is_incremental_persistent_and_cancellable(video, tmp_path):
    path = tmp_path / "incremental.sqlite"
    embedder = StubEmbedder()
    cancel = threading.Event()
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done >= 16:
            cancel.set()

    with SearchIndex(path, "stub", DIM) as idx, pytest.raises(CancelledError):
        build_index(idx, video, None, embedder, stride=1, batch=8, progress=progress, cancel=cancel)
    assert calls[:2] == [(8, N), (16, N)]
    with SearchIndex(path, "stub", DIM) as idx:  # reopened: the work done is kept
        assert idx.counts()["frames"] == 16
        embedder.images = 0
        assert build_index(idx, video, None, embedder, stride=1)["frames"] == N - 16
        assert embedder.images == N - 16
        assert build_index(idx, video, None, embedder, stride=1) == {"frames": 0, "crops": 0}
    with SearchIndex(path, "another-model", 8) as idx:  # another model's vectors are not mixed in
        assert idx.counts() == {"frames": 0, "crops": 0}


def test_index_files_are_keyed_by_video_and_model(tmp_path):
    a = index_file(tmp_path, "abc123", "clip-vit-b-32")
    assert a.parent == tmp_path / "search" and a != index_file(tmp_path, "abc123", "siglip2-base")
    assert "/" not in index_file(tmp_path, "x/y", "m:n").name


def make_project(tmp_path, video: ListFrames) -> Project:
    ref = VideoRef(path=str(tmp_path / "v.mp4"), fingerprint="stub-video", frame_count=N, width=64, height=48,
                   fps=FPS)
    project = Project.create(tmp_path / "v.mp4.annot", ref)
    square = rle.encode(red_square_mask())
    corner = np.zeros((48, 64), bool)
    corner[0:12, 0:12] = True
    project.add_object(name="car", object_id=1)
    project.add_object(name="corner", object_id=2)
    for frame in (20, 22, 24, 26):
        project.set_mask(1, frame, square, "user")
    for frame in (50, 52):
        project.set_mask(2, frame, rle.encode(corner), "user")
    return project


def test_object_crops_are_indexed_and_like_finds_frames_like_an_object(video, index, tmp_path):
    embedder = StubEmbedder()
    with make_project(tmp_path, video) as project:
        built = build_index(index, video, project, embedder, stride=2)
        assert built == {"frames": N // 2, "crops": 6}
        keys, _vecs = index.crops(1)
        assert keys[:, 1].tolist() == [20, 22, 24, 26]
        result = search(index, embedder, FPS, like=1, top=8)
        assert result.query == "like object 1"
        assert all(h.frame in RED_FRAMES for h in result.hits)
        assert all(h.object_id != 1 for h in result.hits)  # its own crops are left out
        phrase = search(index, embedder, FPS, query="a red car", top=20)
        assert any(h.object_id == 1 for h in phrase.hits)  # the object's crops match the phrase too
        # A moved mask is cropped again; a cleared one leaves the index.
        moved = np.zeros((48, 64), bool)
        moved[5:30, 20:50] = True
        project.set_mask(1, 20, rle.encode(moved), "user")
        project.delete_mask(2, 52)
        assert build_index(index, video, project, embedder, stride=2) == {"frames": 0, "crops": 1}
        assert sorted(index.crop_boxes()) == [(1, 20), (1, 22), (1, 24), (1, 26), (2, 50)]
    with pytest.raises(ValueError, match="no indexed crops"):
        search(index, embedder, FPS, like=9)
    with pytest.raises(ValueError, match="one of the two"):
        search(index, embedder, FPS)


def test_many_project_search_with_faiss_equals_brute_force(tmp_path):
    from annotator.core.search_many import ManyIndex

    rng = np.random.default_rng(1)
    indexes = {}
    for name in ("a", "b", "c"):
        idx = SearchIndex(tmp_path / f"{name}.sqlite", "stub", 8)
        idx.add_frames(list(range(0, 200, 2)), rng.normal(size=(100, 8)))
        indexes[name] = idx
    many = ManyIndex.build(indexes)
    query = normalise(rng.normal(size=8))[0]
    got = many.query(query, top=7)
    brute = sorted(((float(v @ query), name, int(f)) for name, idx in indexes.items()
                    for f, v in zip(*idx.frames(), strict=True)), reverse=True)[:7]
    assert [(name, frame) for name, frame, _s in got] == [(name, frame) for _s, name, frame in brute]
    np.testing.assert_allclose([s for *_x, s in got], [s for s, *_x in brute], atol=1e-5)
    for idx in indexes.values():
        idx.close()
