"""The image encoder in ONNX Runtime (engines/image_encoder.py): the same levels as the model,
exported once per weights and runtime, cached beside the weights, PyTorch when it cannot run;
and the fast tracking path (encoder and memory attention in ONNX Runtime, pruned session)
against stock transformers on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.engines import image_encoder
from annotator.engines.edgetam_attention import FastEdgeTamMemoryAttention
from annotator.engines.image_encoder import ImageEncoder, runtime_versions
from annotator.engines.rope_attention import FastSam2MemoryAttention
from annotator.engines.sam2_video import Sam2VideoTracker
from annotator.engines.tracker import ListFrames
from annotator.sim.synthetic import render_scene
from tests.tiny_sam2_video import IMAGE_SIZE, tiny_edgetam_video, tiny_sam2_video, tiny_video_processor

pytestmark = [
    pytest.mark.skipif(runtime_versions() is None, reason="onnxruntime, onnx or onnxscript missing"),
    pytest.mark.usefixtures("one_torch_thread"),
]
FACTORIES = {"sam2": tiny_sam2_video, "edgetam": tiny_edgetam_video}
TRACKED = 10  # the parity bar: at least 10 tracked frames


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory):
    """One export per family for the whole module (an export takes seconds)."""
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def family(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def onnx_encoder(family: str, export_dir) -> tuple[torch.nn.Module, ImageEncoder]:
    model = FACTORIES[family]()
    return model, ImageEncoder(model, IMAGE_SIZE, weights_dir=export_dir / family, prefer="onnx")


def _reference_levels(model: torch.nn.Module, pixels: torch.Tensor) -> list[torch.Tensor]:
    with torch.inference_mode():
        return list(model.get_image_features(pixels, return_dict=True).fpn_hidden_states)


def test_onnx_levels_equal_the_models_own(onnx_encoder) -> None:
    model, encoder = onnx_encoder
    assert encoder.runtime == "onnxruntime", encoder.reason
    pixels = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    for ours, theirs in zip(encoder.levels(pixels), _reference_levels(model, pixels)):
        theirs = theirs.permute(1, 2, 0).reshape(ours.shape)  # (HW, 1, C) -> NCHW
        assert (ours - theirs).abs().max().item() <= 1e-4 * theirs.abs().max().item()


def test_export_is_cached_beside_the_weights_keyed_by_weights_and_runtime(onnx_encoder, family,
                                                                          export_dir) -> None:
    model, encoder = onnx_encoder
    assert encoder.path is not None and encoder.path.parent.parent == export_dir / family / "onnx"
    name = encoder.path.parent.name
    assert encoder.sha256[:16] in name and runtime_versions() in name and f"{IMAGE_SIZE}px" in name
    stamp = encoder.path.stat().st_mtime_ns
    again = ImageEncoder(model, IMAGE_SIZE, weights_dir=export_dir / family, prefer="onnx")
    assert again.path == encoder.path and encoder.path.stat().st_mtime_ns == stamp  # not exported again
    other = FACTORIES[family](seed=1)  # other weights: another file
    assert image_encoder.weights_sha256(image_encoder._levels_module(other)) != encoder.sha256


def test_fallback_to_pytorch_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    model = tiny_edgetam_video()
    pixels = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    expected = _reference_levels(model, pixels)

    monkeypatch.setattr(image_encoder, "runtime_versions", lambda: None)
    missing = ImageEncoder(model, IMAGE_SIZE, weights_dir=tmp_path, prefer="auto")
    assert missing.runtime == "pytorch" and "not installed" in missing.reason
    with pytest.raises(RuntimeError, match="not installed"):
        ImageEncoder(model, IMAGE_SIZE, weights_dir=tmp_path, prefer="onnx")
    monkeypatch.undo()

    def broken(*_args: object) -> None:
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(image_encoder, "_export", broken)
    failed = ImageEncoder(model, IMAGE_SIZE, weights_dir=tmp_path, prefer="auto")
    assert failed.runtime == "pytorch" and "unsupported operator" in failed.reason
    assert not list(tmp_path.rglob("*.onnx")) and not list((tmp_path / "onnx").glob(".export-*"))
    forced = ImageEncoder(model, IMAGE_SIZE, prefer="pytorch")
    assert forced.runtime == "pytorch" and "pytorch" in forced.reason
    for encoder in (missing, failed, forced):  # the PyTorch path (RepViT fused, channels-last)
        for ours, theirs in zip(encoder.levels(pixels), expected):
            theirs = theirs.permute(1, 2, 0).reshape(ours.shape)
            assert (ours - theirs).abs().max().item() <= 1e-4 * theirs.abs().max().item()
    assert model.vision_encoder.backbone.timm_model.stem is not None  # the caller's model is untouched


def test_read_only_weights_folder_exports_to_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    model = tiny_sam2_video(seed=2)
    blocked = tmp_path / "weights"
    blocked.mkdir()
    (blocked / "onnx").write_text("not a folder")  # mkdir fails like a read-only snapshot would
    monkeypatch.setenv("ANNOTATOR_CACHE_DIR", str(tmp_path / "cache"))
    encoder = ImageEncoder(model, IMAGE_SIZE, weights_dir=blocked, prefer="onnx")
    assert encoder.path is not None and (tmp_path / "cache" / "onnx") in encoder.path.parents


# --- parity of the whole fast tracking path with stock transformers ---------------------------------
def _stock_stream(model, processor, frames, mask):
    """transformers' streaming loop (notes/verified-snippets.md), mask on frame 0."""
    session = processor.init_video_session(inference_device="cpu", dtype=torch.float32)
    out_logits = []
    with torch.inference_mode():
        for index, rgb in enumerate(frames):
            inputs = processor(images=rgb, device="cpu", return_tensors="pt")
            if index == 0:
                processor.add_inputs_to_inference_session(inference_session=session, frame_idx=0, obj_ids=1,
                                                          input_masks=mask)
            out = model(inference_session=session, frame=inputs.pixel_values[0])
            if index:
                out_logits.append(out.pred_masks[0, 0].float().clone())
    return out_logits


def test_fast_path_tracks_like_stock_transformers(onnx_encoder, family) -> None:
    """ONNX Runtime encoder + pruned session vs the stock streaming loop, 10 tracked frames:
    binarised masks at IoU >= 0.999, logits within 1e-3 of their scale, masks not empty."""
    model, encoder = onnx_encoder
    pairs = list(render_scene(num_frames=TRACKED + 1, width=96, height=72, seed=3))
    frames, mask = [f for f, _ in pairs], pairs[0][1][1]
    processor = tiny_video_processor()
    stock = _stock_stream(model, processor, frames, mask)
    tracker = Sam2VideoTracker(ListFrames(frames), model, processor, family, "cpu", encoder="onnx",
                               weights_dir=encoder.path.parent.parent.parent)
    tracker.add_conditioning(0, {1: mask})
    ours = [r.logits for r in tracker.propagate_logits(0, 1, {1: TRACKED})]
    assert tracker.encoder_runtime == "onnxruntime" and len(ours) == len(stock) == TRACKED
    assert tracker.memory_runtime == "onnxruntime"  # memory attention too
    expected = FastEdgeTamMemoryAttention if family == "edgetam" else FastSam2MemoryAttention
    assert isinstance(model.memory_attention, expected)
    for a, b in zip(ours, stock):
        assert (a - b).abs().max().item() <= 1e-3 * b.abs().max().item()
        ma, mb = a > 0, b > 0
        assert mb.any() and ma.any(), "an empty mask makes the comparison vacuous"
        assert (ma & mb).sum().item() / (ma | mb).sum().item() >= 0.999
    assert np.isfinite([float(a.abs().max()) for a in ours]).all()


def test_background_work_uses_a_one_thread_session_with_the_same_output(family, export_dir) -> None:
    """Encode-ahead (engines/run_control.background) leaves a core to the UI: its own
    one-thread session of the same graph, made on first use, equal to the main one."""
    from annotator.engines import run_control

    model = FACTORIES[family]()
    encoder = ImageEncoder(model, IMAGE_SIZE, weights_dir=export_dir / family, prefer="onnx", threads=2)
    pixels = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    foreground = encoder.levels(pixels)
    assert encoder._background is None
    with run_control.background():
        background = encoder.levels(pixels)
    assert encoder._background is not None and encoder._background is not encoder._session
    assert encoder._background.get_session_options().intra_op_num_threads == 1
    assert encoder._session.get_session_options().intra_op_num_threads == 2
    for a, b in zip(background, foreground):
        assert (a - b).abs().max().item() <= 1e-5 * b.abs().max().item()
    assert not run_control.in_background()  # the flag ends with the block
