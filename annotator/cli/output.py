"""Output conventions of the CLI contract: data on stdout, progress and messages on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def print_json(document: Any) -> None:
    """With --json, stdout holds exactly one JSON document."""
    json.dump(document, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def print_table(info: dict[str, Any]) -> None:
    width = max((len(k) for k in info), default=0)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")


def message(text: str) -> None:
    print(text, file=sys.stderr)


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """A tqdm bar on stderr (disabled when stderr is not a terminal)."""
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, disable=None, leave=False)


def progress_bar(total: int | None, desc: str = "") -> Any:
    """A tqdm bar on stderr to ``update(n)`` by hand (disabled when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=None, leave=False)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def wait_for(job: Any, desc: str = "", cancelled: str = "") -> Any:
    """A Session Job's result, with a bar on stderr following its progress. Ctrl+C cancels the
    job (what it finished is kept, as every Session job does), prints ``cancelled`` and re-raises."""
    bar = progress_bar(None, desc)
    try:
        while not job.wait(0.1):
            progress = job.progress
            if progress.total and bar.total != progress.total:
                bar.reset(total=progress.total)
            bar.n = progress.done
            bar.refresh()
        return job.result()
    except KeyboardInterrupt:
        job.cancel()
        job.wait(30)
        if cancelled:
            message(cancelled)
        raise
    finally:
        bar.close()
