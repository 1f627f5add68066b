"""A real X11 display for tests: Xvfb on a free display number, real input events through
xdotool, screenshots through FFmpeg's x11grab (PyAV, already a dependency).

No window manager runs: what a window gets (focus, position) it gets from the app itself.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / ".ci" / "install-x11-deps"
TOOLS = ("Xvfb", "xdotool")
SCREEN = (1600, 1000)
WAIT_S = 120  # hang guard for every wait below: the slowest step takes a few seconds on 2 cores


def missing_tools() -> list[str]:
    """The programs and Qt xcb libraries this machine lacks for a real-window test."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    from annotator.gui.preflight import platform_problem

    problem = platform_problem({**os.environ, "QT_QPA_PLATFORM": "xcb"})
    if problem is not None:
        missing += [library.soname for library in problem[1]]
    return missing


def why_cannot_install() -> str | None:
    """Why .ci/install-x11-deps cannot run here (None: it can)."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({platform.system()})"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine (install Xvfb, xdotool and Qt's xcb libraries by hand)"
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install them (run .ci/install-x11-deps as root)"
    return None


def ensure_tools() -> str | None:
    """Install what is missing when possible; the reason to skip when not (None: all there)."""
    missing = missing_tools()
    if not missing:
        return None
    reason = why_cannot_install()
    if reason is None:
        done = subprocess.run(["bash", str(INSTALL_SCRIPT)], check=False, capture_output=True, text=True,
                              timeout=900)  # hang guard: apt-get takes a minute or two at most
        missing = missing_tools()
        if not missing:
            return None
        reason = f"{INSTALL_SCRIPT.name} ran but did not provide them: {done.stderr.strip()[-500:]}"
    return f"missing for the real-X11 test: {', '.join(missing)}; {reason}"


@dataclass
class XDisplay:
    name: str  # ":42"
    process: subprocess.Popen

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.name}

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": self.name},
                              capture_output=True, text=True, timeout=WAIT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def screenshot(self) -> np.ndarray:
        """The whole screen as HxWx3 RGB uint8."""
        import av

        with av.open(self.name, format="x11grab",
                     options={"video_size": f"{SCREEN[0]}x{SCREEN[1]}", "draw_mouse": "0"}) as grab:
            frame = next(grab.decode(video=0))
            return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_xvfb() -> XDisplay:
    """Xvfb on a display number it picks itself (-displayfd), so parallel runs do not collide."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()  # Xvfb writes it once it accepts connections
    if not number:
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        process.kill()
        raise RuntimeError(f"Xvfb did not start: {error.strip()}")
    return XDisplay(f":{number}", process)


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> object:
    """Poll until ``condition()`` is truthy (exceptions count as not yet); its value.

    ``timeout_s`` is a hang guard (each step takes seconds at most), not a speed check.
    """
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # the project file may be mid-write, a window not mapped yet
            last = exc
        else:
            ready = value is not None if isinstance(value, np.ndarray) else bool(value)
            if ready:
                return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))
