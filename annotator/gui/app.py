"""Start the desktop app: `annotator [VIDEO|PROJECT]` (or `annotator gui ...`).

Without a display (a server, an SSH session, CI), creating a Qt window aborts the process
deep inside Qt; so we check first and say how to run it instead. The same goes for a
display whose platform plugin cannot load for lack of system libraries (preflight.py names
them all, with the packages to install). Uncaught exceptions in
slots are shown in a dialog and logged; the app keeps running and nothing is lost (every
edit is already in the project file).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from types import TracebackType

log = logging.getLogger(__name__)

NO_DISPLAY_HELP = """\
annotator: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the app cannot open a window.

  Run it on a virtual display:     xvfb-run -a annotator {args}
  Or with no window at all:        QT_QPA_PLATFORM=offscreen annotator {args}
  Or use the command line instead: annotator --help   (info, segment, track, export, models ...)
"""


def display_problem(environ: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why a window cannot open here, or None. An explicit QT_QPA_PLATFORM is trusted."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get("QT_QPA_PLATFORM"):
        return None
    if platform.startswith("linux") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return "no display"
    return None


def create_application(argv: list[str] | None = None) -> object:
    """The QApplication (made once), named for QSettings and styled."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from annotator.gui.main_window import APPLICATION, ORGANIZATION
    from annotator.gui.style import apply_style
    from annotator.resources import icon_path

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setOrganizationName(ORGANIZATION)
        app.setApplicationName(APPLICATION)
        app.setApplicationDisplayName("Annotator")
        app.setDesktopFileName("annotator")  # ties windows to packaging/annotator.desktop
        icon = icon_path()
        if icon is not None:
            app.setWindowIcon(QIcon(str(icon)))
        apply_style(app)
    return app


def run_app(path: str | None = None) -> int:
    """Open the main window (on ``path`` if given) and run until it closes; the exit code."""
    if display_problem() is not None:
        print(NO_DISPLAY_HELP.format(args=path or ""), file=sys.stderr, end="")
        return 1
    if _platform_libraries_missing(path or ""):
        return 2  # like bad usage: the machine needs setting up, nothing ran
    app = create_application()
    from annotator.gui.focus import return_focus
    from annotator.gui.main_window import MainWindow

    window = MainWindow()
    previous_hook = sys.excepthook
    sys.excepthook = _dialog_hook(window)
    window.show()
    return_focus(window)  # without a window manager nothing else makes it the active window
    if path:
        window.open_path(path)
    try:
        return int(app.exec())  # type: ignore[attr-defined]
    finally:
        sys.excepthook = previous_hook


def _platform_libraries_missing(args: str) -> bool:
    """True (after saying what to install) when Qt's platform plugin cannot load here."""
    from annotator.gui.preflight import platform_problem, report

    try:
        problem = platform_problem()
    except (OSError, subprocess.SubprocessError) as exc:  # the check itself failed: let Qt try
        log.debug("platform preflight skipped: %s", exc)
        return False
    if problem is None:
        return False
    print(report(*problem, args=args), file=sys.stderr, end="")
    return True


def main() -> int:
    """The `annotator-gui` entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_app(sys.argv[1] if len(sys.argv) > 1 else None)


def _dialog_hook(window: object) -> object:
    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, error, tb))
        log.error("unexpected error:\n%s", text)
        if issubclass(kind, KeyboardInterrupt):
            from PySide6.QtWidgets import QApplication

            QApplication.quit()
            return
        try:
            from annotator.gui.dialogs import error_dialog

            error_dialog(window, "Unexpected error", error,  # type: ignore[arg-type]
                         hint="The app keeps running, and every edit so far is saved.", details=text)
        except Exception:  # the dialog itself failed: the log has it
            print(text, file=sys.stderr)

    return hook
