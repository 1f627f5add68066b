"""The check before Qt starts: every missing system library of the platform plugin, named at once,
with the packages to install; the table of packages covers what the plugin needs here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.gui import preflight
from annotator.gui.preflight import (
    MissingLibrary,
    missing_libraries,
    platform_problem,
    platforms_qt_tries,
    report,
)
from annotator.gui.system_packages import PACKAGES, WINDOW_LIBRARIES, packages_for

REPO = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                                reason="the platform plugin check uses ldd (Linux)")


def _qt_dir() -> Path:
    qt = preflight.qt_directory()
    if qt is None or not (qt / "plugins" / "platforms" / "libqxcb.so").is_file():
        pytest.skip("this PySide6 has no xcb platform plugin")
    return qt


def _unbundled_dependencies(file: Path, qt_dir: Path) -> set[str]:
    """What ldd lists for ``file`` outside PySide6 (found or not), as this machine sees it."""
    output = subprocess.run(["ldd", str(file)], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in output.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("linux-vdso") or "statically" in line:
            continue  # the vDSO is the kernel's, not a file any package installs
        location = parts[2] if len(parts) > 2 and parts[1] == "=>" else parts[0]
        if location != "not" and Path(location).resolve().is_relative_to(qt_dir.parent.resolve()):
            continue  # bundled in the wheel
        names.add(Path(parts[0]).name)
    return names


@linux_only
@pytest.mark.parametrize("platform", ["xcb", "wayland"])
def test_the_package_table_covers_every_library_the_plugin_needs_outside_the_wheel(platform):
    qt_dir = _qt_dir()
    files = preflight.plugin_files(platform, qt_dir)
    if not files:
        pytest.skip(f"this PySide6 has no {platform} plugin")
    needed = set().union(*(_unbundled_dependencies(f, qt_dir) for f in files))
    assert "libxcb.so.1" in needed or platform == "wayland"
    assert not needed - PACKAGES.keys(), "add these to annotator/gui/system_packages.py"


def test_every_row_names_a_package_for_each_distribution():
    for soname, row in PACKAGES.items():
        assert len(row) == 3 and all(row), soname
    assert set(WINDOW_LIBRARIES) <= PACKAGES.keys()
    packages, unknown = packages_for(["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libfoo.so.1"], "dnf")
    assert packages == ["xcb-util-cursor", "xcb-util-wm"] and unknown == ["libfoo.so.1"]


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, ["xcb"]),
    ({"QT_QPA_PLATFORM": "offscreen"}, ["offscreen"]),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, ["wayland", "xcb"]),
    ({"QT_QPA_PLATFORM": "xcb:nograb"}, ["xcb"]),
    ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, ["wayland", "xcb"]),
    ({"XDG_SESSION_TYPE": "wayland"}, ["xcb"]),  # no compositor to talk to
])
def test_which_plugins_qt_will_try(environ, expected):
    assert platforms_qt_tries(environ) == expected


@linux_only
def test_offscreen_and_minimal_are_not_checked(tmp_path):
    broken = _broken_folder(tmp_path)
    for platform in ("offscreen", "minimal"):
        environ = {**os.environ, "QT_QPA_PLATFORM": platform, "LD_LIBRARY_PATH": str(broken)}
        assert platform_problem(environ) is None


def _broken_folder(tmp_path: Path) -> Path:
    """Empty files named like two xcb libraries: they exist, and cannot load ("file too short")."""
    folder = tmp_path / "broken-libs"
    folder.mkdir()
    for name in ("libxcb-cursor.so.0", "libxcb-icccm.so.4"):
        (folder / name).write_bytes(b"")
    return folder


@linux_only
def test_both_unloadable_libraries_are_found_in_one_go(tmp_path):
    """ldd stops at the first file that cannot load; the check goes on past it."""
    qt_dir = _qt_dir()
    environ = {**os.environ, "LD_LIBRARY_PATH": str(_broken_folder(tmp_path))}
    missing = {m.soname: m.reason for m in missing_libraries(preflight.plugin_files("xcb", qt_dir), environ)}
    assert set(missing) >= {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    bad_file = tmp_path / "broken-libs" / "libxcb-cursor.so.0"
    assert missing["libxcb-cursor.so.0"] == f"file too short: {bad_file}"


def test_the_report_names_every_library_and_one_command_per_distribution():
    text = report("xcb", [MissingLibrary("libxcb-cursor.so.0", "not found"),
                          MissingLibrary("libxcb-icccm.so.4", "not found"),
                          MissingLibrary("libmystery.so.3", "not found")], args="clip.mp4")
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4\n" in text
    assert "sudo dnf install xcb-util-cursor xcb-util-wm\n" in text
    assert "sudo pacman -S --needed xcb-util-cursor xcb-util-wm\n" in text
    assert "No package is known here for: libmystery.so.3" in text
    assert "QT_QPA_PLATFORM=offscreen annotator clip.mp4" in text and "xvfb-run -a annotator clip.mp4" in text


@linux_only
@pytest.mark.parametrize("entry", [
    ["-m", "annotator"],  # `annotator VIDEO` and `make run`
    ["-c", "import sys; from annotator.gui.app import main; sys.exit(main())"],  # `annotator-gui`
])
def test_the_app_names_both_missing_libraries_and_exits_2(tmp_path, sample_video, entry):
    """The issue's proof: empty libxcb-cursor.so.0 and libxcb-icccm.so.4 on LD_LIBRARY_PATH."""
    _qt_dir()
    display = None
    if shutil.which("Xvfb"):
        from tests.x11.xdisplay import start_xvfb

        display = start_xvfb()
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "LD_LIBRARY_PATH": str(_broken_folder(tmp_path)),
               # without Xvfb a display name is enough: the check runs before anything connects
               "DISPLAY": display.name if display else ":99"}
        env.pop("QT_QPA_PLATFORM", None)
        done = subprocess.run([sys.executable, *entry, str(sample_video)], env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # timeout: a hang guard only
    finally:
        if display is not None:
            display.close()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(r"libxcb-cursor\.so\.0 +\(file too short", done.stderr)
    assert re.search(r"libxcb-icccm\.so\.4 +\(file too short", done.stderr)
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in done.stderr
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in done.stderr
    assert "sudo pacman -S --needed xcb-util-cursor xcb-util-wm" in done.stderr
    assert "QT_QPA_PLATFORM=offscreen" in done.stderr and "xvfb-run" in done.stderr


def test_docs_install_lists_the_same_packages_as_the_table():
    """docs/install.md's commands come from WINDOW_LIBRARIES; this keeps them in step."""
    from annotator.gui.system_packages import DISTRIBUTIONS

    text = (REPO / "docs" / "install.md").read_text()
    for distribution in DISTRIBUTIONS:
        packages, _ = packages_for(list(WINDOW_LIBRARIES), distribution.key)
        assert f"`{distribution.install} {' '.join(packages)}`" in text, distribution.name
    assert "docs/install.md" in (REPO / "README.md").read_text()
