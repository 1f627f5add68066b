"""`annotator models ...` run as a subprocess: exit codes, stdout/stderr split, JSON, and a
real download from a server on 127.0.0.1 (cancelled with Ctrl+C, then resumed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_download import PAYLOAD, PAYLOAD_SHA, RangeServer

REPO = Path(__file__).resolve().parents[1]

# Runs the real CLI with one extra model that points at the test server.
WITH_TEST_MODEL = """
import signal, sys
# Ctrl+C as in a terminal, even when the test run itself was started with SIGINT ignored (a
# background job of a non-interactive shell), which the child would inherit.
signal.signal(signal.SIGINT, signal.default_int_handler)
from annotator.engines import weights
from annotator.cli.main import main
spec = weights.ModelSpec("test-model", ("segment",), "sam", "test", "test", {size},
                         url={url!r}, filename="model.bin", sha256={sha!r})
weights.REGISTRY[spec.name] = spec
sys.exit(main(sys.argv[1:]))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)  # the conftest fixture already points the user dirs at temp folders
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("ANNOTATOR_DEVICE", None)
    return env


def annotator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "annotator", *args], capture_output=True, text=True,
                          env=_env(), cwd=REPO, timeout=120)


def models_dir() -> Path:
    return Path(os.environ["ANNOTATOR_MODELS_DIR"])


def test_list_json_is_one_document_with_the_contract_keys():
    out = annotator("models", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    names = {row["name"] for row in rows}
    assert {"sam-vit-b", "sam2.1-tiny", "edgetam", "clip-vit-b-32", "blip-base"} <= names
    for row in rows:
        assert {"name", "task", "size", "sha256", "revision", "installed", "license"} <= set(row)
        assert row["installed"] is False


def test_list_table_and_installed_mark():
    path = models_dir() / "sam-vit-b" / "sam_vit_b_01ec64.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    out = annotator("models", "list")
    assert out.returncode == 0
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert " yes " in lines["sam-vit-b"] and " yes " not in lines["sam-vit-h"]
    assert str(models_dir()) in out.stderr


def test_status_without_weights_says_classical_and_how_to_get_models(capsys):
    out = annotator("models", "status", "--device", "cpu", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["device"] == "cpu" and doc["device_label"].startswith("CPU (")
    assert doc["engines"]["segment"]["model"] == "classical"
    assert "annotator models download" in doc["engines"]["segment"]["reason"]
    assert doc["engines"]["track"]["model"] == "classical"
    assert doc["engines"]["classify"]["model"] is None
    assert "clip-vit-b-32" in doc["engines"]["classify"]["reason"]
    from annotator.cli.main import main  # the table, in-process: one torch import is enough

    assert main(["models", "status", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device      CPU (")
    assert lines[2].split()[:2] == ["segment", "classical"]


def test_status_with_an_unknown_device_fails():
    out = annotator("models", "status", "--device", "tpu")
    assert out.returncode == 1
    assert "unknown device" in out.stderr and out.stdout == ""


def test_download_offline_fails_fast_and_clearly():
    out = annotator("models", "download", "sam2.1-tiny")
    assert out.returncode == 1
    assert out.stdout == ""
    assert "HF_HUB_OFFLINE" in out.stderr and str(models_dir() / "sam2.1-tiny") in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 3  # a message, not a traceback


def test_unknown_model_is_bad_usage():
    for action in (("download", "sam-vit-x"), ("verify", "sam-vit-x"), ("delete", "sam-vit-x")):
        out = annotator("models", *action)
        assert out.returncode == 2, action
        assert "known models" in out.stderr


def test_verify_and_delete():
    out = annotator("models", "verify")
    assert out.returncode == 0 and "nothing to verify" in out.stderr
    bad = models_dir() / "sam-vit-b" / "sam_vit_b_01ec64.pth"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"truncated checkpoint")
    out = annotator("models", "verify")
    assert out.returncode == 1
    assert "sam-vit-b: FAILED" in out.stdout and "sha256 mismatch" in out.stdout
    out = annotator("models", "verify", "sam-vit-b", "--json")
    assert out.returncode == 1 and json.loads(out.stdout)[0]["ok"] is False
    out = annotator("models", "verify", "sam-vit-h")
    assert out.returncode == 1 and "not installed" in out.stdout
    out = annotator("models", "delete", "sam-vit-b")
    assert out.returncode == 0 and not bad.exists()
    assert "deleted sam-vit-b" in out.stderr
    out = annotator("models", "delete", "sam-vit-b")
    assert out.returncode == 0 and "was not installed" in out.stderr


def _run_with_test_model(url: str, *args: str) -> subprocess.Popen[str]:
    code = WITH_TEST_MODEL.format(size=len(PAYLOAD), url=url, sha=PAYLOAD_SHA)
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)


def test_download_from_a_server_prints_the_path():
    with RangeServer(PAYLOAD) as server:
        proc = _run_with_test_model(server.url, "models", "download", "test-model", "--json")
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    doc = json.loads(stdout)
    path = models_dir() / "test-model" / "model.bin"
    assert doc == {"name": "test-model", "path": str(path), "installed": True}
    assert path.read_bytes() == PAYLOAD
    proc = _run_with_test_model(server.url, "models", "download", "test-model")  # server is gone:
    stdout, stderr = proc.communicate(timeout=120)  # nothing to fetch when already installed
    assert proc.returncode == 0 and "already installed" in stderr and stdout.strip() == str(path)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_cancels_keeps_the_part_and_a_rerun_resumes():
    part = models_dir() / "test-model" / "model.bin.part"
    with RangeServer(PAYLOAD, mode="slow", delay=0.02) as server:
        proc = _run_with_test_model(server.url, "models", "download", "test-model")
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 0):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "resume" in stderr and stdout == ""
        kept = part.stat().st_size
        assert 0 < kept < len(PAYLOAD)
        assert not (models_dir() / "test-model" / "model.bin").exists()

        server.mode = "normal"
        proc = _run_with_test_model(server.url, "models", "download", "test-model")
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert server.requests[-1] == f"bytes={kept}-"
    assert (models_dir() / "test-model" / "model.bin").read_bytes() == PAYLOAD
    assert not part.exists()
