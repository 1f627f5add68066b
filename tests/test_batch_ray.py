"""`annotator batch` on Ray: a local two-CPU Ray cluster runs three small videos end to end.

Ray is the optional extra annotator[ray]; without it this module is skipped. The cluster is
started here (no dashboard, nothing to download), so the backend uses it and leaves it
running; the fixture shuts it down.
"""

from __future__ import annotations

import json

import pytest

from annotator.batch.manifest import load_manifest
from annotator.batch.runner import run_batch
from tests.test_batch import FRAMES, check_outputs, make_clips, mask_entry, write_manifest

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    # Ray's default temp dir (/tmp/ray): a pytest tmp path can exceed the 107-byte limit of the
    # Unix socket paths Ray puts under it.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_runs_three_videos_end_to_end_and_resumes(ray_cluster, tmp_path):
    from annotator.batch.ray_runner import RayBackend

    folder = tmp_path / "clips"
    truth = make_clips(folder)
    manifest = load_manifest(write_manifest(folder, [mask_entry(f"clip{k}") for k in range(3)]))
    out = tmp_path / "out"
    events: list[tuple[str, str]] = []
    report = run_batch(manifest, out, RayBackend("auto"), retries=1,
                       on_event=lambda kind, job, result: events.append((kind, job.name)))
    assert report.backend == "ray" and (report.ok, report.failed) == (3, 0), [v.error for v in report.videos]
    for k in range(3):
        result = check_outputs(out, f"clip{k}", truth[f"clip{k}"])
        assert result["frames"]["total"] == FRAMES and result["attempt"] == 1
    assert sorted(kind for kind, _ in events) == ["ok"] * 3 + ["started"] * 3
    assert ray_cluster.is_initialized()  # the backend leaves a cluster it did not start
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["backend"] == "ray" and summary["ok"] == 3

    again = run_batch(manifest, out, RayBackend("auto"))
    assert (again.ok, again.skipped) == (0, 3)
