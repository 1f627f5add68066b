"""Kill the app with SIGKILL in the middle of a propagation: nothing it had written is lost.

The child (crash_child.py) is the real main window, offscreen, driven by input events: a
click on the ellipse, then F. While it propagates we read the project read-only (allowed
while the app writes), kill the child, reopen the project for writing and compare.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from annotator.app.project_files import default_project_path
from annotator.app.session import Session
from annotator.core.project import Project
from annotator.errors import ProjectLockedError
from tests.gui.helpers import gt_mask, inner_point

pytestmark = [pytest.mark.gui, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")]

CHILD = Path(__file__).with_name("crash_child.py")
KILL_AFTER_FRAMES = 12
SECONDS_PER_FRAME = 0.06  # the real tracker, slowed so the kill lands mid-run (~6 s for 99 frames)


def _reader(stream: object, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        lines.put(line.strip())
    lines.put(None)


def test_sigkill_mid_propagation_loses_nothing(sample_copy, sample_gt, tmp_path):
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL (POSIX)")
    x, y = inner_point(gt_mask(sample_gt, 1, 0))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1",
               CRASH_CHILD_SETTINGS=str(tmp_path / "child-settings"))
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(sample_copy), str(x), str(y), str(SECONDS_PER_FRAME)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(child.stdout, lines), daemon=True).start()
    stderr_lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(child.stderr, stderr_lines), daemon=True).start()
    project_path = default_project_path(sample_copy)
    written: list[int] = []
    deadline = time.monotonic() + 120
    try:
        while len(written) < KILL_AFTER_FRAMES:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("the child app did not start propagating in time")
            if line is None:
                errors = []
                while not stderr_lines.empty():
                    errors.append(stderr_lines.get() or "")
                pytest.fail("the child app exited early:\n" + "\n".join(errors[-30:]))
            if line.startswith("written "):
                written.append(int(line.split()[1]))
        # What the store holds right now, read while the app keeps writing.
        with Project.open(project_path, readonly=True) as reader:
            before = {(r.object_id, r.frame): r.rle["counts"] for r in reader.iter_masks()}
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The propagation was cut short, and every frame read before the kill is still there.
    assert len(before) >= KILL_AFTER_FRAMES
    assert max(frame for _oid, frame in before) < 99, "the run finished before the kill: slow it down"
    with Project.open(project_path) as project:  # opens for writing: the kernel dropped the lock
        after = {(r.object_id, r.frame): r.rle["counts"] for r in project.iter_masks()}
        assert not project.readonly
    missing = {key for key in before if key not in after}
    changed = {key for key in before if key in after and after[key] != before[key]}
    assert not missing, f"lost after the kill: {sorted(missing)}"
    assert not changed, f"changed after the kill: {sorted(changed)}"

    # The app opens it again, and the interrupted run is one undo step.
    with Session(segmenter="classical", tracker="classical") as session:
        session.open(sample_copy)
        assert session._project.mask_count() == len(after)
        label = session.undo()
        assert label is not None and label.startswith("Propagate"), label
        assert session._project.object_frames(1) == [0]
    with pytest.raises(ProjectLockedError), Project.open(project_path), Project.open(project_path):
        pass  # and a second writer is still refused, as always
