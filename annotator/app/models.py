"""Model weights as Jobs: list, download, verify and delete, for the GUI's Models dialog and
anything else that drives a Session (``session.models``).

The registry and the files are engines/weights.py; this module runs the slow parts on the
Session's I/O lane and announces them through the Session's job events (kinds "download",
"verify"), so a download shows up like any other job. After a change of what is installed
the engines re-announce their choice: "automatic" may pick the new model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from annotator.app.engines import EngineManager
from annotator.core.jobs import Job, JobContext, Workers
from annotator.engines import weights
from annotator.errors import DeviceError

AUTO = "auto"
CLASSICAL = weights.CLASSICAL
TrackJob = Callable[[Job[Any], str], None]  # announce a Job with its kind (the Session's job events)


class Models:
    def __init__(self, workers: Workers, track_job: TrackJob, engines: EngineManager) -> None:
        self._workers = workers
        self._track_job = track_job
        self._engines = engines
        self._cancels: dict[Job[Any], threading.Event] = {}

    # --- reads --------------------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every registered model: name, tasks, size, license, installed, ... (``models list``)."""
        return weights.list_models()

    def spec(self, name: str) -> weights.ModelSpec:
        return weights.get_spec(name)

    def auto_pick(self, task: str, device: str) -> str:
        """What "automatic" would run for ``task`` now (looks at installed files only)."""
        try:
            return weights.choose(task, AUTO, device if device != "?" else "cpu")[0]
        except Exception:  # a broken install is reported by the status line, not here
            return "?"

    @staticmethod
    def device_problem(device: str) -> str | None:
        """Why a device cannot be chosen, or None."""
        if device in (AUTO, "cpu"):
            return None
        from annotator.engines.device import pick_device

        try:
            pick_device(device)
        except DeviceError as exc:
            return str(exc).split(": ", 1)[-1]
        return None

    @staticmethod
    def device_label(device: str) -> str:
        try:
            from annotator.engines.device import device_label

            return device_label(device)
        except Exception:  # a status line never fails over a label
            return device

    # --- jobs ---------------------------------------------------------------------------------------
    def download(self, name: str) -> Job[Any]:
        """Download ``name`` with progress (bytes done, total) and sha256 checks; cancel stops it."""
        weights.get_spec(name)
        cancel = threading.Event()

        def work(ctx: JobContext) -> Any:
            return weights.download(name, progress=lambda done, total: ctx.report(done, total, name),
                                    cancel=cancel)

        job = self._workers.submit(Workers.IO_LANE, f"Download {name}", work)
        self._cancels[job] = cancel
        job.on_done(self._downloaded)
        self._track_job(job, "download")
        return job

    def cancel(self, job: Job[Any]) -> None:
        """Cancel a download, also one already streaming bytes."""
        cancel = self._cancels.get(job)
        if cancel is not None:
            cancel.set()
        job.cancel()

    def verify(self, name: str) -> Job[tuple[bool, str]]:
        job = self._workers.submit(Workers.IO_LANE, f"Verify {name}", lambda ctx: weights.verify(name))
        self._track_job(job, "verify")
        return job

    def delete(self, name: str) -> None:
        weights.delete(name)
        self._engines.announce()

    def _downloaded(self, job: Job[Any]) -> None:
        self._cancels.pop(job, None)
        self._engines.announce()  # "automatic" may pick it now
