"""Before Qt starts: can the platform plugin that will open the window load at all?

PySide6 wheels bundle Qt but not the X11/Wayland client libraries that Qt's platform plugins
link against. When one is missing, Qt prints its own text about *one* library and aborts, so a
user fixes it and hits the next. This module runs ``ldd`` on the plugin Qt will use (xcb, or
Wayland when Qt would pick it), collects every library that is missing or cannot load, and
says which packages to install on Debian/Ubuntu, Fedora and Arch.

No Qt here: this runs before the QApplication exists (and must not import PySide6, which
would load Qt libraries into the process).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from annotator.gui.system_packages import DISTRIBUTIONS, packages_for

# Qt picks its platform plugin from QT_QPA_PLATFORM (a ";"-separated list it tries in order),
# else from the session type. Plugins that need no system window libraries are not checked.
_PLUGIN_FILES = {"xcb": ("libqxcb.so", "libQt6XcbQpa.so"),
                 "wayland": ("libqwayland.so", "libQt6WaylandClient.so")}
_LDD_TIMEOUT_S = 30  # ldd on a plugin takes ~50 ms; the limit only stops a stuck loader


@dataclass(frozen=True)
class MissingLibrary:
    soname: str  # the name the plugin asks for, e.g. libxcb-cursor.so.0
    reason: str  # "not found", or the loader's reason ("file too short") with the bad file


def platforms_qt_tries(environ: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt will try, in order (like QGuiApplication's own choice)."""
    explicit = environ.get("QT_QPA_PLATFORM", "").strip()
    if explicit:
        # "wayland;xcb" or "xcb:option=value": the names before any options
        return [part.split(":", 1)[0].strip() for part in explicit.split(";") if part.strip()]
    if environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def qt_directory() -> Path | None:
    """PySide6's bundled Qt folder, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    qt = Path(spec.origin).parent / "Qt"
    return qt if qt.is_dir() else None


def plugin_files(platform: str, qt_dir: Path) -> list[Path]:
    """The plugin and its Qt integration library (libQt6XcbQpa.so.6 ...) that exist in the wheel."""
    base = "wayland" if platform.startswith("wayland") else platform
    plugin_name, qpa_prefix = _PLUGIN_FILES[base]
    files = [qt_dir / "plugins" / "platforms" / plugin_name]
    files += sorted((qt_dir / "lib").glob(qpa_prefix + "*"))
    return [f for f in files if f.is_file()]


def missing_libraries(files: list[Path], environ: Mapping[str, str] | None = None) -> list[MissingLibrary]:
    """Every library that ``files`` need and the loader cannot load, found in one go.

    ``ldd`` lists all "not found" names at once, but stops at the first file that exists and
    cannot load ("file too short", not an ELF file). Such a file in an LD_LIBRARY_PATH folder
    is hidden in a re-run (through a folder of links to the others), so the next one shows too.
    """
    env = dict(os.environ if environ is None else environ)
    missing: dict[str, MissingLibrary] = {}
    broken: set[Path] = set()
    with tempfile.TemporaryDirectory(prefix="annotator-preflight-") as scratch:
        for attempt in range(20):  # one more run per broken file; 20 is far more than ever seen
            run_env = dict(env)
            if broken:
                run_env["LD_LIBRARY_PATH"] = _path_without(env.get("LD_LIBRARY_PATH", ""), broken,
                                                           Path(scratch) / str(attempt))
            stop = None
            for file in files:
                found, stop = _ldd(file, run_env)
                for library in found:
                    missing.setdefault(library.soname, library)
                if stop is not None:
                    break
            if stop is None:
                break
            bad_file, reason = stop
            if bad_file.is_symlink() and Path(scratch) in bad_file.parents:
                bad_file = Path(os.readlink(bad_file))  # a link in our view: name the user's file
            missing.setdefault(bad_file.name, MissingLibrary(bad_file.name, f"{reason}: {bad_file}"))
            if bad_file in broken or not _in_library_path(bad_file, env):
                # a bad file in a system folder cannot be hidden: what is listed so far is all
                break
            broken.add(bad_file)
    return list(missing.values())


_LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(not found|\S+)")
_LDD_ERROR = re.compile(r"error while loading shared libraries: (\S+): (.+)$")


def _ldd(file: Path, env: Mapping[str, str]) -> tuple[list[MissingLibrary], tuple[Path, str] | None]:
    """The "not found" libraries of one file, and the file the loader stopped at with its reason."""
    done = subprocess.run(["ldd", str(file)], env=dict(env), capture_output=True, text=True,
                          timeout=_LDD_TIMEOUT_S, check=False)
    found = [MissingLibrary(m.group(1), "not found")
             for m in map(_LDD_LINE.match, done.stdout.splitlines()) if m and m.group(2) == "not found"]
    for line in (done.stdout + done.stderr).splitlines():
        error = _LDD_ERROR.search(line)
        if error:
            return found, (Path(error.group(1)), error.group(2).strip())
    return found, None


def _in_library_path(path: Path, env: Mapping[str, str]) -> bool:
    folders = [Path(p).resolve() for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    return path.parent.resolve() in folders


def _path_without(library_path: str, hidden: set[Path], scratch: Path) -> str:
    """LD_LIBRARY_PATH with each folder replaced by links to its files, less the hidden ones."""
    hidden_resolved = {h.resolve() for h in hidden}
    folders = []
    for index, folder in enumerate(p for p in library_path.split(":") if p):
        source = Path(folder)
        if not any(h.parent == source.resolve() for h in hidden_resolved):
            folders.append(folder)
            continue
        view = scratch / str(index)
        view.mkdir(parents=True)
        for entry in source.iterdir():
            if entry.resolve() not in hidden_resolved and entry.absolute() not in hidden:
                (view / entry.name).symlink_to(entry.absolute())
        folders.append(str(view))
    return ":".join(folders)


def platform_problem(environ: Mapping[str, str] | None = None) -> tuple[str, list[MissingLibrary]] | None:
    """(platform, missing libraries) when no plugin Qt would try can load; None when one can.

    None also when the check does not apply: not Linux, a plugin that needs no window
    libraries (offscreen, minimal ...), no ldd, or a PySide6 without these plugin files.
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return None
    qt_dir = qt_directory()
    if qt_dir is None:
        return None
    tried = platforms_qt_tries(env)
    first_failure: tuple[str, list[MissingLibrary]] | None = None
    for platform in tried:
        if platform != "xcb" and not platform.startswith("wayland"):
            return None  # offscreen, minimal, vnc, eglfs ...: nothing of ours to check
        files = plugin_files(platform, qt_dir)
        if not files:
            return None
        missing = missing_libraries(files, env)
        if not missing:
            return None  # Qt loads this one (it falls back along the list when the first fails)
        first_failure = first_failure or (platform, missing)
    return first_failure


def report(platform: str, missing: list[MissingLibrary], args: str = "") -> str:
    """The message for a user: what is missing, one install command per distribution, the way out."""
    width = max(len(m.soname) for m in missing)
    lines = [f"annotator: the app cannot open a window: Qt's {platform} platform plugin needs "
             f"{'this system library' if len(missing) == 1 else 'these system libraries'}, "
             "which cannot be loaded:", ""]
    lines += [f"  {m.soname:<{width}}  ({m.reason})" for m in missing]
    lines += ["", "Install them with your distribution's package manager:", ""]
    sonames = [m.soname for m in missing]
    for distribution in DISTRIBUTIONS:
        packages, unknown = packages_for(sonames, distribution.key)
        command = f"{distribution.install} {' '.join(packages)}" if packages else "(no package known)"
        lines.append(f"  {distribution.name + ':':<16} {command}")
    _, unknown = packages_for(sonames, DISTRIBUTIONS[0].key)
    if unknown:
        lines += ["", "No package is known here for: " + ", ".join(unknown)
                  + " (`apt-file search NAME`, `dnf provides '*/NAME'` or `pacman -F NAME` finds it)."]
    shadowing = [m for m in missing if m.reason != "not found"]
    if shadowing:
        lines += ["", "A file that exists but cannot load hides the system's copy: remove it, or take "
                  "its folder out of LD_LIBRARY_PATH."]
    lines += ["", "docs/install.md lists every package the window needs.", "",
              "No display at all (a server, CI)? Run it without a window or on a virtual display:",
              f"  QT_QPA_PLATFORM=offscreen annotator {args}".rstrip(),
              f"  xvfb-run -a annotator {args}".rstrip(), ""]
    return "\n".join(lines)
