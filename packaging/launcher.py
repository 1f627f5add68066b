"""Entry point of the PyInstaller bundle: the `annotator` command (the app by default).

Kept apart from annotator/ so the bundle's executable is a plain script PyInstaller can
analyse; it does exactly what the `annotator` console script of the wheel does.
"""

from __future__ import annotations

import multiprocessing
import sys

from annotator.cli import main

if __name__ == "__main__":
    # `annotator batch` runs videos in spawned processes; in a frozen app each of them starts
    # this executable again, and freeze_support() turns that start into the worker.
    multiprocessing.freeze_support()
    sys.exit(main())
