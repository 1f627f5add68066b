"""Crash safety: a child process edits a project and is killed with SIGKILL at random moments.

After every kill the project must pass ``PRAGMA integrity_check``, reopen for writing (the kernel
released the writer lock), and hold exactly what the child reported as committed: the parent
replays the same edits on a model (tests/project_crash_child.py) and the file must equal the model
after the reported commits, or after one more (a commit can land just before the kill, before its
report is printed). History (labels and undone states) must match too, so undo survives crashes.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from annotator.core.project import Project

REPO = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("project_crash_child.py")
KILLS = 50

_spec = importlib.util.spec_from_file_location("project_crash_child", CHILD)
child = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, child)  # dataclasses look their module up there
_spec.loader.exec_module(child)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _run_and_kill(path: Path, seed: int, rng: random.Random) -> tuple[list[str], str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "ready":
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if rng.random() < 0.1:  # sometimes kill it while it is still opening the project
        time.sleep(rng.uniform(0.0, 0.4))
    else:
        ready.wait(timeout=20)
        time.sleep(rng.uniform(0.0, 0.15))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=20)
    reader.join(timeout=20)
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"child ended by itself ({proc.returncode}):\n{stderr}"
    return lines, stderr


def _commit_stream(model, seed: int):
    """Yields the report label of each commit the child makes with this seed, applying it to model."""
    rng = random.Random(seed)
    i = 0
    while True:
        op = child.plan(rng, sorted(model.objects))
        for n, _ in enumerate(model.commits(op)):
            yield f"{i}.{n}"
        i += 1


def _expected(model) -> tuple:
    after_open = copy.deepcopy(model)
    after_open.reopened()
    return after_open.state(), after_open.history()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_committed_edit(tmp_path):
    path = tmp_path / "crash.annot"
    with Project.create(path, child.VIDEO) as p:
        p.set_setting("history_max_steps", child.MAX_STEPS)
    model = child.Model()
    rng = random.Random(20240611)
    total_reported = one_more = 0
    for iteration in range(KILLS):
        seed = 1000 + iteration
        lines, _ = _run_and_kill(path, seed, rng)
        reported = [x for x in lines if x != "ready"]
        total_reported += len(reported)

        stream = _commit_stream(model, seed)
        for label in reported:
            assert next(stream) == label, "the child and the model disagree on the edit sequence"

        with Project.open(path) as p:  # writable: the dead child's lock is gone
            state = child.read_state(p)
            history = [(e["label"], e["state"]) for e in p.history_entries()]
        candidate = _expected(model)
        if (state, history) != candidate:
            next(stream)  # the commit that landed just before the kill, unreported
            one_more += 1
            candidate = _expected(model)
        assert (state, history) == candidate, f"iteration {iteration}: the file lacks reported edits"
        model.reopened()

        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()

    assert total_reported > 5 * KILLS, "the child barely ran; the test proved little"
    with Project.open(path) as p:
        assert child.read_state(p) == model.state()
    print(f"{KILLS} kills, {total_reported} reported commits, {one_more} unreported commits found on disk")
