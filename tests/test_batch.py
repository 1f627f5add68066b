"""`annotator batch` on the local backend: manifest checks, three small videos end to end with the
classical tracker (spawned worker processes), resume, a broken video, a dying worker, the CLI.

The clips are tiny renders of sim.synthetic (160x90, 20 frames) with their true masks, so
what the batch wrote can be checked against the truth, not just for existence.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from annotator.batch.manifest import load_manifest, parse_manifest
from annotator.batch.runner import LocalBackend, run_batch
from annotator.core import masks as rle_ops
from annotator.core.imageio import read_label_png, write_label_png
from annotator.errors import FormatError
from annotator.sim.synthetic import render_scene
from tests.session_helpers import iou

WIDTH, HEIGHT, FRAMES = 160, 90, 20


# --- inputs ----------------------------------------------------------------------------------------------
def make_clip(path: Path, seed: int) -> list[dict[int, np.ndarray]]:
    """Write an H.264 clip of a synthetic scene; returns the true masks per frame."""
    truth = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "16", "x264-params": "threads=1"}
        for rgb, masks in render_scene(FRAMES, WIDTH, HEIGHT, seed=seed):
            truth.append(masks)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return truth


def labels_of(masks: dict[int, np.ndarray]) -> np.ndarray:
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    for oid, mask in masks.items():
        labels[mask] = oid
    return labels


def make_clips(folder: Path, count: int = 3) -> dict[str, list[dict[int, np.ndarray]]]:
    """clip0..clipN-1.mp4 with clipK.png (frame 0 labels) in ``folder``; returns the truth per clip."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for k in range(count):
        truth[f"clip{k}"] = make_clip(folder / f"clip{k}.mp4", seed=k)
        write_label_png(folder / f"clip{k}.png", labels_of(truth[f"clip{k}"][0]))
    return truth


def mask_entry(clip: str, **extra: object) -> dict:
    return {"video": f"{clip}.mp4", "init": {"masks": f"{clip}.png", "frame": 0}, **extra}


def write_manifest(folder: Path, videos: list[dict], name: str = "batch.json", **defaults: object) -> Path:
    doc = {"version": 1, "defaults": {"tracker": "classical", "export": ["coco", "davis"], **defaults},
           "videos": videos}
    path = folder / name
    path.write_text(json.dumps(doc, indent=1))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("clips")
    truth = make_clips(folder)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return folder, truth


# --- the manifest ------------------------------------------------------------------------------------------
BAD_ENTRIES = [
    ({"init": {"masks": "clip0.png"}}, "'video' must be the path"),
    ({"video": "missing.mp4", "init": {"masks": "clip0.png"}}, "missing.mp4 does not exist"),
    ({"video": "clip0.mp4"}, "'init' is missing"),
    ({"video": "clip0.mp4", "init": {"masks": "nope.png"}}, "init.masks: mask image"),
    ({"video": "clip0.mp4", "init": {"masks": "clip0.png", "prompts": []}}, "exactly one of"),
    ({"video": "clip0.mp4", "init": {"prompts": [{"object": 1, "points": [[1, 2, 5]]}]}},
     "init.prompts[0].points[0]: a point is [x, y]"),
    ({"video": "clip0.mp4", "init": {"prompts": [{"object": 0, "box": [0, 0, 5, 5]}]}},
     "positive integer id"),
    ({"video": "clip0.mp4", "init": {"prompts": [{"object": 1, "box": [5, 5, 1, 1]}]}}, "is empty"),
    ({"video": "clip0.mp4", "init": {"import": "clip0.png", "format": "pascal"}},
     "init.format must be one of"),
    (mask_entry("clip0", tracker="sam3"), "unknown tracker 'sam3'"),
    (mask_entry("clip0", export=["coco", "csv"]), "export[1]: unknown format 'csv'"),
    (mask_entry("clip0", export=[{"format": "coco", "options": {"strid": 2}}]), "unknown option(s) strid"),
    (mask_entry("clip0", export=[{"format": "coco", "options": {"stride": 0}}]), "stride must be >= 1"),
    (mask_entry("clip0", describe={"classify": {"labels": ["cat"]}}), "at least two label names"),
    (mask_entry("clip0", colour="red"), "unknown key(s) colour"),
    (mask_entry("clip0", name="../escape"), "must be a folder name"),
]


@pytest.mark.parametrize(("entry", "expected"), BAD_ENTRIES)
def test_manifest_errors_name_the_file_the_entry_and_the_problem(clips, entry, expected):
    folder, _ = clips
    path = write_manifest(folder, [mask_entry("clip1"), entry], name="bad.json")
    with pytest.raises(FormatError) as info:
        load_manifest(path)
    text = str(info.value)
    assert text.startswith(str(path)), text
    assert "videos[1]" in text and expected in text, text


def test_manifest_document_errors(clips, tmp_path):
    folder, _ = clips
    broken = tmp_path / "broken.json"
    broken.write_text('{"videos": [')
    with pytest.raises(FormatError, match="not valid JSON"):
        load_manifest(broken)
    with pytest.raises(FormatError, match="manifest not found"):
        load_manifest(tmp_path / "absent.json")
    with pytest.raises(FormatError, match="non-empty list"):
        parse_manifest({"videos": []}, folder / "m.json")
    with pytest.raises(FormatError, match="version 7 is not supported"):
        parse_manifest({"version": 7, "videos": [mask_entry("clip0")]}, folder / "m.json")
    with pytest.raises(FormatError, match="name 'clip0' is already used by videos\\[0\\]"):
        parse_manifest({"defaults": {"export": "coco"}, "videos": [mask_entry("clip0"), mask_entry("clip0")]},
                       folder / "m.json")
    with pytest.raises(FormatError, match="no 'export' given"):
        parse_manifest({"videos": [mask_entry("clip0")]}, folder / "m.json")


def test_manifest_resolves_paths_merges_defaults_and_asks_gpus_for_models(clips):
    folder, _ = clips
    doc = {"defaults": {"tracker": "sam2.1-tiny", "export": "ytvis"}, "out": "results",
           "videos": [mask_entry("clip0"),
                      mask_entry("clip1", device="cpu"),
                      mask_entry("clip2", tracker="classical", export=[{"format": "davis"}]),
                      mask_entry("clip0", name="again", resources={"num_gpus": 0.5, "num_cpus": 2})]}
    manifest = parse_manifest(doc, folder / "m.json")
    a, b, c, d = manifest.videos
    assert a.video == str(folder / "clip0.mp4") and a.init.masks == ((str(folder / "clip0.png"), 0),)
    assert manifest.out == str(folder / "results")
    assert [e.format for e in a.exports] == ["ytvis"] and [e.format for e in c.exports] == ["davis"]
    assert (a.num_gpus, b.num_gpus, c.num_gpus, d.num_gpus, d.num_cpus) == (1.0, 0.0, 0.0, 0.5, 2.0)
    assert a.fingerprint() != d.fingerprint() or a.name != d.name
    assert a.fingerprint() == parse_manifest(doc, folder / "m.json").videos[0].fingerprint()


# --- running ------------------------------------------------------------------------------------------------
def check_outputs(out: Path, name: str, truth: list[dict[int, np.ndarray]]) -> dict:
    """result.json says ok; the COCO and DAVIS exports load and follow the true masks."""
    result = json.loads((out / name / "result.json").read_text())
    assert result["status"] == "ok", result["error"]
    assert result["frames"]["total"] == FRAMES and result["frames"]["annotated"] == FRAMES
    assert result["tracker"] == "classical" and result["objects"] == 3
    coco = json.loads((out / name / "export" / "coco.json").read_text())
    assert len(coco["images"]) == FRAMES and {c["name"] for c in coco["categories"]} == {"object"}
    assert len({a["track_id"] for a in coco["annotations"]}) == 3 and len(coco["annotations"]) >= 2 * FRAMES
    first_image = min(im["id"] for im in coco["images"])
    for ann in (a for a in coco["annotations"] if a["image_id"] == first_image):  # the locked frame, exact
        mask = rle_ops.decode({"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"]})
        assert max(iou(mask, t) for t in truth[0].values()) == 1.0
    # The DAVIS export, read back through its ids.json, follows the truth (the classical tracker
    # loses a small object now and then on these 160x90 clips: a mean, not every frame).
    davis = out / name / "export" / "davis" / name
    ids = json.loads((davis / "ids.json").read_text())["objects"]
    pngs = sorted(davis.glob("*.png"))
    assert len(pngs) == FRAMES
    scores = [iou(read_label_png(png) == int(k), masks[obj["object_id"]])
              for png, masks in zip(pngs, truth) for k, obj in ids.items()]
    assert np.mean(scores) > 0.6, (name, np.mean(scores))
    assert (out / name / f"{name}.annot").is_file()
    return result


@pytest.mark.slow
def test_local_pool_runs_three_videos_resumes_and_reports_a_broken_one(clips, tmp_path):
    folder, truth = clips
    manifest_path = write_manifest(folder, [mask_entry("clip0"), mask_entry("clip1"), mask_entry("clip2"),
                                            {"video": "broken.mp4", "init": {"masks": "clip0.png"}}],
                                   name="pool.json")
    out = tmp_path / "out"
    events: list[tuple[str, str]] = []
    report = run_batch(load_manifest(manifest_path), out, LocalBackend(workers=2), retries=1,
                       on_event=lambda kind, job, result: events.append((kind, job.name)))
    assert (report.ok, report.failed, report.skipped) == (3, 1, 0)
    broken = next(v for v in report.videos if v.name == "broken")
    # Bad input is not worth a second try: it was run once and reported with the reason.
    assert broken.status == "failed" and broken.attempts == 1 and "VideoOpenError" in broken.error
    assert ("retry", "broken") not in events and ("failed", "broken") in events
    failed = json.loads((out / "broken" / "result.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["retryable"] is False
    stamps = {}
    for k in range(3):
        check_outputs(out, f"clip{k}", truth[f"clip{k}"])
        stamps[k] = (out / f"clip{k}" / "result.json").stat().st_mtime_ns
    summary = json.loads((out / "_summary.json").read_text())
    assert (summary["ok"], summary["failed"]) == (3, 1)

    # Resume: the finished videos are skipped untouched; the failed one is tried again.
    again = run_batch(load_manifest(manifest_path), out, LocalBackend(workers=2))
    assert (again.ok, again.failed, again.skipped) == (0, 1, 3)
    assert all((out / f"clip{k}" / "result.json").stat().st_mtime_ns == stamps[k] for k in range(3))

    # A changed entry is redone; a missing output makes its video redo too.
    write_manifest(folder, [mask_entry("clip0"), mask_entry("clip1", export=["coco", "davis", "mot"]),
                            mask_entry("clip2")], name="pool.json")
    (out / "clip2" / "export" / "coco.json").unlink()
    third = run_batch(load_manifest(manifest_path), out, LocalBackend(workers=2))
    assert {v.name: v.status for v in third.videos} == {"clip0": "skipped", "clip1": "ok", "clip2": "ok"}
    assert (out / "clip1" / "export" / "mot").is_dir()
    assert (out / "clip0" / "result.json").stat().st_mtime_ns == stamps[0]


def test_a_worker_that_dies_is_retried_and_then_reported(clips, tmp_path):
    folder, _ = clips
    manifest = load_manifest(write_manifest(folder, [mask_entry("clip0")], name="dies.json"))
    out = tmp_path / "out"
    out.mkdir()
    # A file where the video's folder should be: the worker cannot even start its result.
    (out / "clip0").write_text("in the way")
    events: list[str] = []
    report = run_batch(manifest, out, LocalBackend(workers=1), retries=1,
                       on_event=lambda kind, job, result: events.append(kind))
    video = report.videos[0]
    assert video.status == "failed" and video.attempts == 2
    assert "WorkerDied" in video.error and "exit code 1" in video.error
    assert events == ["started", "retry", "started", "failed"]


def test_prompt_and_import_inits_in_process(clips, tmp_path):
    folder, truth = clips
    t0 = truth["clip0"][0][2]  # object 2 of clip0 on frame 0: the box
    ys, xs = np.nonzero(t0)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    # Keyframes 0 and 19 of clip1 as a DAVIS folder: imported, locked, and the gap tracked.
    davis = tmp_path / "davis" / "clip1"
    davis.mkdir(parents=True)
    for frame in (0, FRAMES - 1):
        write_label_png(davis / f"{frame:05d}.png", labels_of(truth["clip1"][frame]))
    videos = [
        {"video": "clip0.mp4", "segmenter": "classical",
         "init": {"prompts": [{"object": 7, "frame": 0, "box": [int(xs.min()) - 3, int(ys.min()) - 3,
                                                                 int(xs.max()) + 3, int(ys.max()) + 3],
                               "points": [[cx, cy]], "name": "square", "category": "box"}]}},
        {"video": "clip1.mp4", "init": {"import": str(tmp_path / "davis"), "format": "davis"}},
    ]
    manifest = load_manifest(write_manifest(folder, videos, name="inits.json", export=["coco"]))
    out = tmp_path / "out"
    report = run_batch(manifest, out, LocalBackend(workers=0))
    assert (report.ok, report.failed) == (2, 0), [v.error for v in report.videos]

    from annotator.core.project import Project

    prompted = json.loads((out / "clip0" / "result.json").read_text())
    assert prompted["segmenter"].startswith("classical")
    with Project.open(out / "clip0" / "clip0.annot", readonly=True) as project:
        (obj,) = project.objects()
        assert (obj.id, obj.name) == (7, "square")
        first = project.mask(7, 0)
        assert first.locked and first.source == "user"
        assert iou(rle_ops.decode(first.rle), t0) > 0.7
        assert project.mask_count() == FRAMES
    coco = json.loads((out / "clip0" / "export" / "coco.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["box"]

    imported = json.loads((out / "clip1" / "result.json").read_text())
    assert imported["frames"]["annotated"] == FRAMES and imported["frames"]["locked_masks"] == 6
    with Project.open(out / "clip1" / "clip1.annot", readonly=True) as project:
        middle = {rec.object_id: rec for rec in project.masks_on_frame(FRAMES // 2)}
        assert set(middle) == {1, 2, 3} and all(r.source == "tracked" for r in middle.values())
        assert iou(rle_ops.decode(middle[2].rle), truth["clip1"][FRAMES // 2][2]) > 0.5


@pytest.mark.slow
def test_describers_label_and_caption_into_the_project_and_the_result(clips, tmp_path):
    from annotator.core.project import Project
    from tests.tiny_describe import snapshots

    folder, _ = clips
    clip_model, blip_model = snapshots(tmp_path / "models")  # tiny random CLIP / BLIP, built offline
    describe = {"classify": {"labels": ["ellipse", "rectangle", "star"], "frames": 2, "clip": False},
                "caption": {"clip": False}}
    weights = {"classify": str(clip_model), "caption": str(blip_model)}
    manifest = load_manifest(write_manifest(folder, [mask_entry("clip0", describe=describe)],
                                            name="describe.json", weights=weights, export=["coco"]))
    report = run_batch(manifest, tmp_path / "out", LocalBackend(workers=0))
    assert report.ok == 1, report.videos[0].error
    result = json.loads((tmp_path / "out" / "clip0" / "result.json").read_text())
    labels = result["describe"]["classify"]["objects"]
    assert set(labels) == {"1", "2", "3"}
    assert all({s["label"] for s in o["labels"]} <= {"ellipse", "rectangle", "star"} for o in labels.values())
    captions = result["describe"]["caption"]["objects"]
    assert set(captions) == {"1", "2", "3"} and all(isinstance(o["caption"], str) for o in captions.values())
    with Project.open(tmp_path / "out" / "clip0" / "clip0.annot", readonly=True) as project:
        assert {i.object_id for i in project.insights(kind="labels")} == {1, 2, 3}
        assert {i.object_id for i in project.insights(kind="caption")} == {1, 2, 3}

    # A describer whose model is not installed fails the video before any tracking, saying what to get.
    missing = load_manifest(write_manifest(folder, [mask_entry("clip1", describe={"caption": True})],
                                           name="missing.json"))
    failed = run_batch(missing, tmp_path / "out2", LocalBackend(workers=0)).videos[0]
    assert failed.status == "failed" and "annotator models download blip-base" in failed.error


def test_bad_init_fails_that_video_with_the_file_named(clips, tmp_path):
    folder, _ = clips
    small = tmp_path / "small.png"
    write_label_png(small, np.ones((10, 10), np.uint8))
    manifest = load_manifest(write_manifest(folder, [
        {"video": "clip0.mp4", "init": {"masks": str(small)}},
        {"video": "clip1.mp4", "init": {"masks": "clip1.png", "frame": 99}},
    ], name="badinit.json"))
    report = run_batch(manifest, tmp_path / "out", LocalBackend(workers=0))
    errors = {v.name: v.error for v in report.videos}
    assert "small.png: mask is 10x10 but the video is 160x90" in errors["clip0"]
    assert "init frame 99 is outside" in errors["clip1"]


def test_cli_batch_dry_run_json_and_exit_code(clips, tmp_path, capsys):
    from annotator.cli.main import main

    folder, _ = clips
    broken = {"video": "broken.mp4", "init": {"masks": "clip0.png"}}
    manifest = write_manifest(folder, [mask_entry("clip2"), broken], name="cli.json")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--out", str(out), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(v["name"], v["status"]) for v in plan["videos"]] == [("clip2", "todo"), ("broken", "todo")]
    code = main(["batch", str(manifest), "--out", str(out), "--local", "0", "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 1 and (doc["ok"], doc["failed"]) == (1, 1)
    assert "FAILED  broken" in captured.err
    assert main(["batch", str(tmp_path / "none.json")]) == 1
    assert "manifest not found" in capsys.readouterr().err


def test_ray_missing_says_how_to_install(monkeypatch):
    from annotator.batch.ray_runner import RayBackend, RayUnavailableError

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(RayUnavailableError, match=r"pip install 'annotator\[ray\]'"):
        RayBackend("auto")
