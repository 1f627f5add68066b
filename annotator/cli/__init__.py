"""The `annotator` command: the GUI by default, subcommands for headless work."""

from __future__ import annotations

from annotator.cli.main import main

__all__ = ["main"]
