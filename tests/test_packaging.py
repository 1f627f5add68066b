"""The wheel and sdist build, install into a fresh venv, and run from there.

``python -m build --no-isolation`` makes the sdist and then the wheel *from the sdist* (so a
file missing from the sdist shows up as a broken wheel). The fresh venv gets no packages of
its own: a .pth file lets it see this environment's site-packages (torch is several GB; it
must not be downloaded again), and the wheel goes in with ``--no-deps --no-index``. The
installed package must then be the one that runs, not the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from annotator import __version__

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("annotator.svg", "annotator.png", "sample.mp4", "sample_gt.json")
_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "out",
    "*.annot", "*.annot-*", "*.annot.lock")

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{output}"
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist + wheel built from a copy of the tree (the build writes egg-info and build/ next to it)."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_IGNORE)
    dist = base / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src], cwd=base)
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return {"base": base, "wheel": wheels[0], "sdist": sdists[0]}


def test_wheel_has_entry_points_and_real_resource_files(built):
    with zipfile.ZipFile(built["wheel"]) as whl:
        names = set(whl.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        text = whl.read(entry_points).decode()
        assert "annotator = annotator.cli:main" in text
        assert "[gui_scripts]" in text and "annotator-gui = annotator.gui.app:main" in text
        for name in SHIPPED:
            info = whl.getinfo(f"annotator/resources/{name}")
            # The package holds symlinks; the wheel must carry the files themselves.
            assert info.file_size == (REPO / "resources" / name).stat().st_size, name
        assert "annotator/batch/runner.py" in names and "annotator/gui/app.py" in names


def test_sdist_carries_resources_as_files(built):
    with tarfile.open(built["sdist"]) as tar:
        members = {Path(m.name).relative_to(Path(m.name).parts[0]).as_posix(): m for m in tar.getmembers()}
    for name in SHIPPED:
        member = members[f"annotator/resources/{name}"]
        assert member.isfile(), f"{name} is not a regular file in the sdist"
        assert member.size == (REPO / "resources" / name).stat().st_size


def test_fresh_venv_runs_the_installed_wheel(built):
    venv = built["base"] / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=built["base"])
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=built["base"]).stdout.strip())
    # Plain path lines: this environment's packages become importable, but its .pth hooks (the
    # editable install of the checkout among them) do not run in the new venv.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_annotator_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", built["wheel"]], cwd=built["base"])

    annotator = venv / "bin" / "annotator"
    assert (venv / "bin" / "annotator-gui").exists()
    version = _run([annotator, "--version"], cwd=REPO).stdout.strip()
    assert version == f"annotator {__version__}"
    info = json.loads(_run([annotator, "info", "resources/sample.mp4", "--json"], cwd=REPO).stdout)
    assert (info["frames"], info["width"], info["height"]) == (100, 640, 360)

    # The code that ran is the wheel's (not the checkout), and it finds its shipped files.
    probe = ("import json, annotator, annotator.resources as r, annotator.gui.app as app; "
             "print(json.dumps([annotator.__file__, str(r.sample_video()), str(r.icon_path()), "
             "callable(app.main)]))")
    where, sample, icon, has_main = json.loads(_run([python, "-c", probe], cwd=built["base"]).stdout)
    assert Path(where).is_relative_to(venv), where
    assert Path(sample).is_relative_to(venv) and Path(sample).stat().st_size > 100_000
    assert Path(icon).is_relative_to(venv) and Path(icon).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert has_main
