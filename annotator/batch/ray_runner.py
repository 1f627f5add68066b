"""The Ray backend of `annotator batch`: one Ray task per video.

    annotator batch clips.json --ray auto            # the cluster this node belongs to
    annotator batch clips.json --ray 10.0.0.5:6379   # a cluster by its GCS address
    annotator batch clips.json --ray ray://head:10001  # Ray Client, from outside the cluster
    annotator batch clips.json --ray local           # start a Ray instance on this machine

Ray is the optional extra ``annotator[ray]`` and is imported only here. Each task asks for
the video's ``num_cpus`` / ``num_gpus`` (a named SAM 2.1 / EdgeTAM tracker gets one GPU
unless the manifest says otherwise), so Ray places GPU videos on GPU nodes and runs as many
at once as the cluster has room for. Tasks are not retried by Ray itself (max_retries=0):
the batch driver retries them, so a video is counted the same way on both backends.

Every node must see the videos and the output folder at the same paths (a shared file
system) and have annotator installed (the cluster image, or a runtime_env); see docs/batch.md.
"""

from __future__ import annotations

from typing import Any

from annotator.batch.manifest import VideoJob
from annotator.errors import AnnotatorError

INSTALL_HINT = "Ray is not installed; install the extra: pip install 'annotator[ray]'"


class RayUnavailableError(AnnotatorError):
    """Ray is missing, or the cluster cannot be reached."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(INSTALL_HINT) from exc
    return ray


class RayBackend:
    """Submit every video at once and let Ray schedule them by their resources.

    With Ray already initialised (a test, a notebook, `ray job submit`), that connection is
    used and left open; otherwise ``address`` is connected to (or, for "local", started) and
    shut down again at close.
    """

    name = "ray"

    def __init__(self, address: str | None = "auto", **init_kwargs: Any) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            if address in (None, "local"):
                # A private instance for this run: no dashboard (it needs ray[default] and a port).
                kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **init_kwargs}
            else:
                kwargs = {"address": address, **init_kwargs}
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = ("start a local Ray instance" if address in (None, "local")
                         else f"reach the Ray cluster at {address}")
                raise RayUnavailableError(f"cannot {where}: {exc}") from exc
        self._task = ray.remote(_run_video)

    def has_room(self, running: int) -> bool:
        return True  # Ray queues what does not fit yet

    def submit(self, job: VideoJob, out_root: str, attempt: int) -> Any:
        return self._task.options(
            num_cpus=job.num_cpus, num_gpus=job.num_gpus, max_retries=0, retry_exceptions=False,
            name=f"annotator-batch:{job.name}",
        ).remote(job, out_root, attempt)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        if not handles:
            return []
        ready, rest = self._ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:  # collect everything else that is already finished, without waiting
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def result(self, handle: Any, job: VideoJob, out_root: str, attempt: int) -> dict[str, Any]:
        return self._ray.get(handle)  # a dead worker or node raises: the driver counts a crash

    def cancel(self, handles: list[Any]) -> None:
        for ref in handles:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished, or the cluster is gone: nothing left to stop
                continue

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def _run_video(job: VideoJob, out_root: str, attempt: int) -> dict[str, Any]:
    """The Ray task: the same work as a local worker process."""
    import cv2

    from annotator.batch.video import process_video

    # Ray sets OMP_NUM_THREADS (torch) to the task's CPUs; OpenCV would take every core of the node.
    cv2.setNumThreads(max(1, int(job.num_cpus)))

    return process_video(job, out_root, attempt)
