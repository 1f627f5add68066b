"""How model work on this thread should run: where it may be cancelled, and whether it is
background work that must leave a core to the UI.

**Cancelling a tracker inside a pass that yields nothing yet.**

A tracker's ``propagate`` is a generator and the caller checks for cancel between the updates
it yields. Some trackers do long work before their first update: the classical tracker's fused
keyframes (engines/keyframes.py) carry the far lock back over the whole span first. Such a pass
calls ``checkpoint()`` between frames; the caller that runs the generator installs its cancel
check with ``cancel_check(fn)`` around the iteration (app/propagation.py does, with the job's).

The hook is thread-local: the generator runs on the thread that iterates it, so each job's
check reaches only its own tracker, and trackers driven without a hook (tests, benches) run on.

**Background work.** Encoding frames ahead (engines/precompute.py) runs while the user steps
through the video. On a 2-core laptop an encoder using both cores delays the UI thread's next
frame (bench/gui_latency.py measured it). Work inside ``background()`` asks the engines for one
thread; engines read ``in_background()`` (engines/image_encoder.py picks a one-thread session).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def cancel_check(check: Callable[[], None]) -> Iterator[None]:
    """While inside, ``checkpoint()`` on this thread calls ``check`` (which raises to cancel)."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def checkpoint() -> None:
    """Raise the installed check's error when the work on this thread was cancelled."""
    check = getattr(_local, "check", None)
    if check is not None:
        check()


@contextmanager
def background() -> Iterator[None]:
    """While inside, model work on this thread is background work: one thread, not all cores."""
    previous = getattr(_local, "background", False)
    _local.background = True
    niceness = _lower_priority()
    try:
        yield
    finally:
        _local.background = previous
        _restore_priority(niceness)


BACKGROUND_NICENESS = 10


def _lower_priority() -> int | None:
    """Make this thread yield to the UI thread when both want a core (Linux: per-thread nice).
    Returns the niceness to restore, or None where threads have no niceness of their own."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return None
    try:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(before, BACKGROUND_NICENESS))
        return before
    except OSError:
        return None


def _restore_priority(niceness: int | None) -> None:
    """Back to the niceness before; without the right to raise priority (most users) the thread
    stays niced, which costs only when something else wants the core: then the UI should win."""
    if niceness is None:
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def in_background() -> bool:
    """True inside ``background()`` on this thread."""
    return bool(getattr(_local, "background", False))
