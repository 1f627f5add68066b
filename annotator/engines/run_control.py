"""Cancelling a tracker inside a pass that yields nothing yet.

A tracker's ``propagate`` is a generator and the caller checks for cancel between the updates
it yields. Some trackers do long work before their first update: the classical tracker's fused
keyframes (engines/keyframes.py) carry the far lock back over the whole span first. Such a pass
calls ``checkpoint()`` between frames; the caller that runs the generator installs its cancel
check with ``cancel_check(fn)`` around the iteration (app/propagation.py does, with the job's).

The hook is thread-local: the generator runs on the thread that iterates it, so each job's
check reaches only its own tracker, and trackers driven without a hook (tests, benches) run on.
"""

from __future__ import annotations

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
