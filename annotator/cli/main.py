"""Argument parsing and dispatch. Each command group lives in its own module with
``register(subparsers)``; this module only wires them and turns errors into one line.

Exit codes (CLI contract): 0 ok, 1 failure, 2 bad usage. A reader that closes the output pipe
early (``annotator export ... --json | head``) ends the command quietly with 141 (128 + SIGPIPE,
what a shell reports for a command killed by it), without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from annotator import __version__
from annotator.errors import AnnotatorError


def _command_modules() -> list[str]:
    """Every ``annotator/cli/cmd_*.py`` adds subcommands: register(subparsers) sets args.handler."""
    import annotator.cli as package

    names = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("cmd_")]
    return [f"annotator.cli.{name}" for name in sorted(names)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="annotator",
        description="Label video: click-to-segment, mask tracking, dataset export. "
        "Without a subcommand, opens the app (optionally on VIDEO or PROJECT).",
    )
    parser.add_argument("--version", action="version", version=f"annotator {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the app (the default when no command is given)")
    gui.add_argument("path", nargs="?", help="a video, frame folder or .annot project")
    gui.set_defaults(handler=_run_gui)
    for name in _command_modules():
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known = set(_subcommand_names(parser))
    first = next((a for a in args_list if a != "--debug"), None)
    if first is None or (not first.startswith("-") and first not in known):
        # `annotator` or `annotator VIDEO`: the GUI.
        args_list = (["--debug"] if "--debug" in args_list else []) + ["gui"] + [
            a for a in args_list if a != "--debug"
        ]
    args = parser.parse_args(args_list)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not as a message at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except AnnotatorError as exc:
        if args.debug:
            raise
        print(f"annotator: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("annotator: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's final flush of the closed pipe raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout replaced by something without a descriptor (tests)
        pass


def _run_gui(args: argparse.Namespace) -> int:
    from annotator.gui.app import run_app  # Qt is imported only for the GUI

    return run_app(args.path)


def _subcommand_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []
