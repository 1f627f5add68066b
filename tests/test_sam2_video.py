"""The streaming SAM 2.1 / EdgeTAM tracker against transformers' own video loop, on CPU.

Tiny random-weight models (tests/tiny_sam2_video.py) at image_size 64 on a synthetic clip.
Reference: ``propagate_in_video_iterator`` over a session that holds the whole clip.

Tolerance for parity: both paths run the same fp32 operations on the same inputs, so a
single object matches bit for bit. With several objects the stock ``forward`` encodes the
memories of all objects in one batched convolution where we encode one object at a time;
that changes the last bits (measured: up to 2e-9 on logits of magnitude ~1e-3).
``ATOL = 1e-6`` leaves 500x headroom over that and is still 1000x below the logit scale, so
a wrong memory (a missing frame, a wrong offset, the wrong direction) cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_sam2_video import tiny_edgetam_video, tiny_sam2_video, tiny_video_processor

from annotator.engines.sam2_memory import memory_window
from annotator.engines.sam2_video import Sam2VideoTracker, confidence, load_sam2_video
from annotator.engines.tracker import ListFrames, Tracker
from annotator.errors import FormatError, FrameIndexError, WeightsMissingError
from annotator.sim.synthetic import render_scene

ATOL = 1e-6
N = 20  # parity clip length (>= 16, so the stock loop also uses all 16 object pointers)
W, H = 96, 64
FACTORIES = {"sam2": tiny_sam2_video, "edgetam": tiny_edgetam_video}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


class CountingFrames(ListFrames):
    """A FrameSource that records every frame asked for (to prove frames are streamed)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__(frames)
        self.reads: list[int] = []

    def frame(self, index: int) -> np.ndarray:
        self.reads.append(index)
        return super().frame(index)


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[dict[int, np.ndarray]]]:
    pairs = list(render_scene(num_frames=N, width=W, height=H, seed=3))
    return [f for f, _ in pairs], [m for _, m in pairs]


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def family(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(family: str) -> torch.nn.Module:
    return FACTORIES[family]()


@pytest.fixture(scope="module")
def processor():
    return tiny_video_processor()


def stock_logits(model, processor, frames, conditioning, start, reverse=False):
    """{(frame, oid): low-res logits} from transformers' own loop over a session holding every frame."""
    session = processor.init_video_session(video=frames, inference_device="cpu")
    result = {}
    with torch.inference_mode():
        for f in sorted(conditioning):
            oids = sorted(conditioning[f])
            processor.add_inputs_to_inference_session(
                inference_session=session, frame_idx=f, obj_ids=list(oids),
                input_masks=[conditioning[f][o] for o in oids])
            model(inference_session=session, frame_idx=f)
        for out in model.propagate_in_video_iterator(session, start_frame_idx=start, reverse=reverse):
            for i, oid in enumerate(out.object_ids):
                result[(out.frame_idx, oid)] = out.pred_masks[i, 0].float().clone()
    return result


def ours(model, processor, frames, conditioning, start, direction, stop, **options):
    tracker = Sam2VideoTracker(ListFrames(frames), model, processor, "tiny", "cpu", **options)
    for f in sorted(conditioning):
        tracker.add_conditioning(f, conditioning[f])
    oids = {o for masks in conditioning.values() for o in masks}
    logits = {(r.frame, r.object_id): r.logits for r in tracker.propagate_logits(start, direction,
                                                                                   dict.fromkeys(oids, stop))}
    return tracker, logits


def assert_parity(reference, result, frames_expected):
    assert sorted(result) == sorted(k for k in reference if k[0] in frames_expected)
    worst = max((result[k] - reference[k]).abs().max().item() for k in result)
    assert worst <= ATOL, f"max |logit difference| {worst:.3g}"
    for logits in result.values():  # masks that are neither empty nor full: the comparison means something
        assert 0.0 < (logits > 0).float().mean().item() < 1.0


# --- parity with the stock loop ------------------------------------------------------------------
def test_forward_parity_two_objects(model, processor, clip):
    frames, truth = clip
    cond = {0: {1: truth[0][1], 2: truth[0][2]}}
    reference = stock_logits(model, processor, frames, cond, start=0)
    tracker, result = ours(model, processor, frames, cond, start=0, direction=1, stop=N - 1)
    assert_parity(reference, result, range(1, N))
    counts = tracker.retained_counts()  # streamed and pruned: a window per object, no frames kept
    assert counts["tracked_outputs"] == 2 * tracker.window == 2 * 15
    assert counts["processed_frames"] == counts["cached_features"] == counts["mask_inputs"] == 0


@pytest.mark.slow
def test_backward_parity_from_last_frame(model, processor, clip):
    frames, truth = clip
    last = N - 1
    cond = {last: {1: truth[last][1]}}
    reference = stock_logits(model, processor, frames, cond, start=last, reverse=True)
    tracker = Sam2VideoTracker(ListFrames(frames), model, processor, "tiny", "cpu")
    tracker.add_conditioning(last, cond[last])
    updates = list(tracker.propagate(last, -1, {1: 0}))
    assert [u.frame for u in updates] == list(range(last - 1, -1, -1))
    for u in updates:
        low_res = reference[(u.frame, 1)][None, None]
        expected = processor.post_process_masks([low_res], [[H, W]])[0][0, 0].numpy()
        assert u.mask.shape == (H, W) and u.mask.dtype == bool and u.mask.any()
        assert np.array_equal(u.mask, expected)
        assert 0.0 <= u.confidence <= 1.0


# --- bounded memory -------------------------------------------------------------------------------
@pytest.mark.slow
def test_pruned_session_equals_unpruned_and_stays_bounded():
    model, processor = tiny_sam2_video(seed=1), tiny_video_processor()
    pairs = list(render_scene(num_frames=80, width=W, height=H, seed=5))
    frames, truth = [f for f, _ in pairs], [m for _, m in pairs]
    pruned = Sam2VideoTracker(ListFrames(frames), model, processor, "tiny", "cpu")
    full = Sam2VideoTracker(ListFrames(frames), model, processor, "tiny", "cpu", prune=False)
    for tracker in (pruned, full):
        tracker.add_conditioning(0, {1: truth[0][1]})
        tracker.add_conditioning(40, {1: truth[40][1]})  # ahead of the run: read as memory, then passed
    steps = zip(pruned.propagate_logits(0, 1, {1: 79}), full.propagate_logits(0, 1, {1: 79}), strict=True)
    for done, (a, b) in enumerate(steps, start=1):
        assert a.frame == b.frame == done
        assert torch.equal(a.logits, b.logits), f"frame {a.frame}"
        kept, grown = pruned.retained_counts(), full.retained_counts()
        assert kept["conditioning_outputs"] == 2
        assert kept["tracked_outputs"] <= pruned.window  # frame 40 is a conditioning frame, not tracked
        assert kept["processed_frames"] == kept["cached_features"] == 0
        # The stock-like session keeps every frame it saw.
        assert grown["processed_frames"] == len({0, 40} | set(range(1, done + 1)))
    assert done == 79
    assert full.retained_counts()["tracked_outputs"] == 78


def test_memory_window_follows_the_config():
    from transformers import EdgeTamVideoConfig, Sam2VideoConfig

    assert memory_window(Sam2VideoConfig()) == 15  # 7 mask memories (6 behind), 16 pointers (15 behind)
    assert memory_window(EdgeTamVideoConfig()) == 15
    assert memory_window(Sam2VideoConfig(num_maskmem=24)) == 23
    assert memory_window(Sam2VideoConfig(max_object_pointers_in_encoder=4)) == 6


# --- corrections -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_correction_becomes_a_conditioning_frame_and_sticks(processor, clip):
    model = tiny_sam2_video(seed=2)
    frames, truth = clip
    k = 12
    correction = np.zeros((H, W), bool)
    correction[16:48, 24:72] = True  # on the 4-pixel grid of the 16x16 low-resolution logits
    tracker = Sam2VideoTracker(ListFrames(frames), model, processor, "tiny", "cpu")
    tracker.add_conditioning(0, {1: truth[0][1]})
    before = {r.frame: r.logits for r in tracker.propagate_logits(0, 1, {1: N - 1})}

    tracker.add_conditioning(k, {1: correction})
    assert tracker.conditioning_frames(1) == [0, k]
    # A run through frame k reports the user's mask there: the correction is not overwritten.
    through = {u.frame: u.mask for u in tracker.propagate(0, 1, {1: k})}
    iou = (through[k] & correction).sum() / (through[k] | correction).sum()
    assert iou > 0.9
    # Re-propagation from k conditions on both user frames exactly like SAM 2's own loop ...
    after = {r.frame: r.logits for r in tracker.propagate_logits(k, 1, {1: N - 1})}
    reference = stock_logits(model, processor, frames, {0: {1: truth[0][1]}, k: {1: correction}}, start=k)
    assert_parity(reference, {(f, 1): v for f, v in after.items()}, range(k + 1, N))
    # ... and changes what follows k.
    assert all(not torch.equal(after[f], before[f]) for f in range(k + 1, N))


@pytest.mark.slow
def test_stock_session_stores_a_correction_on_a_tracked_frame_as_tracked(processor, clip):
    """Why the tracker forgets a frame's tracked state before a correction (sam2 #731 analogue)."""
    model = tiny_sam2_video(seed=2)
    frames, truth = clip
    session = processor.init_video_session(video=frames[:6], inference_device="cpu")
    with torch.inference_mode():
        processor.add_inputs_to_inference_session(inference_session=session, frame_idx=0, obj_ids=1,
                                                  input_masks=truth[0][1])
        for _ in model.propagate_in_video_iterator(session, start_frame_idx=0):
            pass
        processor.add_inputs_to_inference_session(inference_session=session, frame_idx=4, obj_ids=1,
                                                  input_masks=truth[4][1])
        model(inference_session=session, frame_idx=4)
    assert 4 not in session.output_dict_per_obj[0]["cond_frame_outputs"]


# --- the Tracker protocol ---------------------------------------------------------------------------
def test_streams_frames_and_stops_each_object_at_its_own_stop(clip):
    frames, truth = clip
    source = CountingFrames(frames)
    tracker = Sam2VideoTracker(source, tiny_edgetam_video(), tiny_video_processor(), "edgetam", "cpu")
    assert isinstance(tracker, Tracker)
    tracker.add_conditioning(0, {1: truth[0][1], 2: truth[0][2]})
    source.reads.clear()
    updates = list(tracker.propagate(0, 1, {1: 4, 2: 9}))
    assert [u.frame for u in updates if u.object_id == 1] == [1, 2, 3, 4]
    assert [u.frame for u in updates if u.object_id == 2] == list(range(1, 10))
    assert source.reads == list(range(10))  # the conditioning frame, then one frame at a time, no further
    for u in updates:
        assert u.mask.shape == (H, W) and u.mask.dtype == bool and u.mask.any() and not u.mask.all()
        assert 0.0 <= u.confidence <= 1.0


def test_closing_mid_run_is_clean_and_runs_are_reproducible(clip):
    frames, truth = clip
    tracker = Sam2VideoTracker(ListFrames(frames), tiny_sam2_video(), tiny_video_processor(), "tiny", "cpu")
    tracker.add_conditioning(0, {1: truth[0][1]})
    run = tracker.propagate_logits(0, 1, {1: N - 1})
    first = []
    for result in run:
        # No torch mode leaks out of the generator into the caller between frames.
        assert not torch.is_inference_mode_enabled() and not torch.is_autocast_enabled()
        first.append(result.logits)
        if len(first) == 4:
            break
    run.close()
    assert tracker.retained_counts()["processed_frames"] == 0
    rerun = tracker.propagate_logits(0, 1, {1: N - 1})
    again = [r.logits for _, r in zip(range(4), rerun)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # The sessions are shared: a run that starts ends the one still open.
    newer = tracker.propagate_logits(0, 1, {1: N - 1})
    assert next(newer).frame == 1
    assert next(rerun, None) is None
    assert next(newer).frame == 2


def test_bad_requests_raise_clear_errors(clip):
    frames, truth = clip
    tracker = Sam2VideoTracker(ListFrames(frames), tiny_sam2_video(), tiny_video_processor(), "tiny", "cpu")
    with pytest.raises(ValueError, match="mask for object 1 on frame 0"):
        tracker.add_conditioning(0, {1: np.ones((H, W + 1), bool)})
    with pytest.raises(FrameIndexError):
        tracker.add_conditioning(N, {1: truth[0][1]})
    tracker.add_conditioning(0, {1: truth[0][1]})
    with pytest.raises(ValueError, match="direction"):
        tracker.propagate(0, 0, {1: 5})
    with pytest.raises(ValueError, match=r"objects \[2\] have no conditioning mask on frame 0"):
        tracker.propagate(0, 1, {1: 5, 2: 5})
    assert list(tracker.propagate(0, -1, {1: 0})) == []  # nothing before frame 0
    tracker.reset()
    assert tracker.object_ids == []


def test_empty_mask_means_absent(clip):
    frames, _ = clip
    tracker = Sam2VideoTracker(ListFrames(frames), tiny_sam2_video(), tiny_video_processor(), "tiny", "cpu")
    tracker.add_conditioning(2, {7: np.zeros((H, W), bool)})
    session = tracker._session(7)
    list(tracker.propagate(2, 1, {7: 3}))
    stored = session.output_dict_per_obj[0]["cond_frame_outputs"][2]
    assert stored["object_score_logits"].item() < 0  # the model was told the object is not there


def test_confidence():
    present = torch.full((16, 16), -5.0)
    present[4:12, 4:12] = 8.0
    assert confidence(present, 6.0) == pytest.approx(1 / (1 + np.exp(-6.0)))  # crisp mask: stability 1
    blurry = present.clone()
    blurry[2:4, :] = 0.5  # pixels between -1 and +1 lower the stability
    assert confidence(blurry, 6.0) < confidence(present, 6.0)
    assert confidence(present, -8.0) == pytest.approx(1 - 1 / (1 + np.exp(8.0)))  # surely absent
    assert confidence(present, 0.0) == pytest.approx(0.5)


@pytest.mark.slow
def test_bf16_autocast_path(clip):
    """The CUDA precision path (bf16 autocast, fp32 weights) exercised on the CPU."""
    frames, truth = clip
    model, processor = tiny_sam2_video(), tiny_video_processor()
    cond = {0: {1: truth[0][1]}}
    _, full = ours(model, processor, frames[:6], cond, 0, 1, 5)
    _, half = ours(model, processor, frames[:6], cond, 0, 1, 5, precision="bf16")
    assert sorted(half) == sorted(full)
    for key, logits in half.items():
        assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
        scale = full[key].abs().max().item()
        assert (logits - full[key]).abs().max().item() < 0.1 * scale


# --- loading ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "factory"),
                         [("sam2.1-tiny", tiny_sam2_video), ("edgetam", tiny_edgetam_video)])
def test_load_from_a_snapshot_folder(tmp_path, clip, name, factory):
    frames, truth = clip
    model, processor = factory(seed=4), tiny_video_processor()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    tracker = load_sam2_video(name, ListFrames(frames[:4]), weights=tmp_path, device="cpu")
    assert tracker.name == name and type(tracker.model) is type(model)
    assert tracker.processor.target_size == 64
    _, expected = ours(model, processor, frames[:4], {0: {1: truth[0][1]}}, 0, 1, 3)
    tracker.add_conditioning(0, {1: truth[0][1]})
    got = {(r.frame, r.object_id): r.logits for r in tracker.propagate_logits(0, 1, {1: 3})}
    # Same weights; loaded tensors may sit differently in memory, which moves the last bits (~1e-9).
    assert sorted(got) == sorted(expected)
    assert all((got[k] - expected[k]).abs().max().item() <= ATOL for k in expected)


def test_load_refuses_what_cannot_track(tmp_path, clip):
    from tiny_models import save_sam2_snapshot, tiny_sam2

    source = ListFrames(clip[0][:2])
    with pytest.raises(WeightsMissingError):
        load_sam2_video("sam2.1-tiny", source, weights=tmp_path / "nowhere", device="cpu")
    image_only = save_sam2_snapshot(*tiny_sam2(), tmp_path / "image")  # a Sam2Model: no memory weights
    with pytest.raises(FormatError, match="image"):
        load_sam2_video("sam2.1-tiny", source, weights=image_only, device="cpu")
    edgetam = tmp_path / "edgetam"
    tiny_edgetam_video().save_pretrained(edgetam)
    with pytest.raises(FormatError, match="edgetam_video"):
        load_sam2_video("sam2.1-tiny", source, weights=edgetam, device="cpu")
    with pytest.raises(ValueError, match="unknown video model"):
        load_sam2_video("sam-vit-b", source, weights=edgetam, device="cpu")
