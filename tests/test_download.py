"""The downloader against a real HTTP server on 127.0.0.1: progress, resume, checksum,
no network, unwritable folders, cancel; and the Hugging Face side's offline error, progress
bridge and per-file hash checks."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from annotator.engines import download as dl
from annotator.engines import weights
from annotator.errors import CancelledError, DownloadError

PAYLOAD = os.urandom(3 * (1 << 20) + 12_345)  # a bit over 3 MiB: several progress steps
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class RangeServer(http.server.ThreadingHTTPServer):
    """Serves one payload at any path, with Range support and a few ways to misbehave.

    mode: "normal"; "drop_once" (the first answer stops after ``drop_after`` bytes and the
    connection closes); "ignore_range" (always 200 with the whole file); "wrong_bytes" (a
    corrupted copy); "slow" (64 KiB every ``delay`` seconds).
    """

    daemon_threads = True

    def __init__(self, payload: bytes, mode: str = "normal", drop_after: int = 0, delay: float = 0.05):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = payload
        self.mode = mode
        self.drop_after = drop_after
        self.delay = delay
        self.requests: list[str | None] = []  # the Range header of each request (None: none)
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/files/model.bin"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n


class _Handler(http.server.BaseHTTPRequestHandler):
    server: RangeServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        server = self.server
        header = self.headers.get("Range")
        first = not server.requests
        server.requests.append(header)
        body = server.payload
        if server.mode == "wrong_bytes":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        start = 0
        if header and server.mode != "ignore_range":
            start = int(header.split("=")[1].split("-")[0])
        if start >= len(body) and header and server.mode != "ignore_range":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        rest = body[start:]
        if server.mode == "drop_once" and first:
            rest = rest[: server.drop_after]  # then the connection closes early
            self.close_connection = True
        step = 64 << 10
        for i in range(0, len(rest), step):
            piece = rest[i : i + step]
            try:
                self.wfile.write(piece)
            except OSError:  # the client went away (cancel)
                return
            server.count(len(piece))
            if server.mode == "slow":
                time.sleep(server.delay)


def _spec(url: str, sha256: str = PAYLOAD_SHA, size: int = len(PAYLOAD), name: str = "test-model"):
    return weights.ModelSpec(name, ("segment",), "sam", "a test checkpoint served on 127.0.0.1",
                             "test", size, url=url, filename="model.bin", sha256=sha256)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- single files ----------------------------------------------------------------------------
def test_progress_reaches_total_and_file_is_installed():
    calls: list[tuple[int, int | None]] = []
    with RangeServer(PAYLOAD) as server, weights.registered(_spec(server.url)):
        path = weights.download("test-model", progress=lambda d, t: calls.append((d, t)))
        assert path == weights.installed_path("test-model")
        assert path.read_bytes() == PAYLOAD
        assert not path.with_name("model.bin.part").exists()
        assert len(calls) > 3, calls
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)
        assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
        assert all(t == len(PAYLOAD) for _, t in calls)
        manifest = weights.read_manifest("test-model")
        assert manifest["files"]["model.bin"]["sha256"] == PAYLOAD_SHA
        assert weights.verify("test-model") == (True, f"sha256 {PAYLOAD_SHA} matches")
        assert server.requests == [None]


def test_dropped_connection_resumes_from_the_part_offset(tmp_path):
    drop = 1_500_000
    target = tmp_path / "model.bin"
    with RangeServer(PAYLOAD, mode="drop_once", drop_after=drop) as server:
        with pytest.raises(DownloadError, match="partial file is kept"):
            dl.fetch_url(server.url, target, sha256=PAYLOAD_SHA, size=len(PAYLOAD), retries=0)
        part = tmp_path / "model.bin.part"
        assert part.stat().st_size == drop
        assert not target.exists()

        digest = dl.fetch_url(server.url, target, sha256=PAYLOAD_SHA, size=len(PAYLOAD), retries=0)
        assert digest == PAYLOAD_SHA
        assert target.read_bytes() == PAYLOAD
        assert server.requests == [None, f"bytes={drop}-"]
        assert server.bytes_sent == len(PAYLOAD)  # nothing was sent twice


def test_download_resumes_by_itself_within_one_call():
    drop = 2_000_000
    with RangeServer(PAYLOAD, mode="drop_once", drop_after=drop) as server, \
            weights.registered(_spec(server.url)):
        path = weights.download("test-model")
        assert path.read_bytes() == PAYLOAD
        assert server.requests == [None, f"bytes={drop}-"]
        assert server.bytes_sent == len(PAYLOAD)


def test_server_that_ignores_range_restarts_cleanly(tmp_path):
    target = tmp_path / "model.bin"
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD[:1000])
    with RangeServer(PAYLOAD, mode="ignore_range") as server:
        digest = dl.fetch_url(server.url, target, sha256=PAYLOAD_SHA, size=len(PAYLOAD))
        assert server.requests == ["bytes=1000-"]  # asked to resume, got the whole file
    assert digest == PAYLOAD_SHA
    assert target.read_bytes() == PAYLOAD  # rewritten, not appended


def test_complete_part_needs_no_request(tmp_path):
    target = tmp_path / "model.bin"
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD)
    with RangeServer(PAYLOAD) as server:
        dl.fetch_url(server.url, target, sha256=PAYLOAD_SHA, size=len(PAYLOAD))
        assert server.requests == []
    assert target.read_bytes() == PAYLOAD


def test_sha256_mismatch_refuses_and_removes_the_file():
    with RangeServer(PAYLOAD, mode="wrong_bytes") as server, weights.registered(_spec(server.url)), \
            pytest.raises(DownloadError) as info:
        weights.download("test-model")
    text = str(info.value)
    wrong = hashlib.sha256(bytes([PAYLOAD[0] ^ 0xFF]) + PAYLOAD[1:]).hexdigest()
    assert f"expected {PAYLOAD_SHA}" in text and f"got {wrong}" in text
    leftovers = [p for p in Path(os.environ["ANNOTATOR_MODELS_DIR"]).rglob("*") if p.is_file()]
    assert leftovers == []  # neither the file nor its .part
    assert "test-model" not in weights.REGISTRY  # registered() restored the registry


def test_closed_port_fails_fast_with_manual_instructions():
    url = f"http://127.0.0.1:{_closed_port()}/sam.pth"
    with weights.registered(_spec(url)):
        start = time.monotonic()
        with pytest.raises(DownloadError) as info:
            weights.download("test-model", timeout=2)
        elapsed = time.monotonic() - start
    target = Path(os.environ["ANNOTATOR_MODELS_DIR"]) / "test-model" / "model.bin"
    assert url in str(info.value) and f"save it as {target}" in str(info.value)
    assert elapsed < 30  # hang guard (15x the 2 s timeout), not a speed check: without timeouts it blocks


def test_server_that_never_answers_times_out(tmp_path):
    # This sandbox answers every outside address through a proxy, so an unroutable address
    # cannot stand in for "no network"; a socket that accepts and then stays silent can.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/sam.pth"
        start = time.monotonic()
        with pytest.raises(DownloadError, match="No network") as info:
            dl.fetch_url(url, tmp_path / "sam.pth", timeout=0.5)
        assert time.monotonic() - start < 30  # hang guard (60x the 0.5 s timeout), not a speed check
    assert "timed out" in str(info.value) and str(tmp_path / "sam.pth") in str(info.value)


def test_resolver_that_hangs_is_cut_short(tmp_path, monkeypatch):
    # A resolver with no reachable server blocks inside getaddrinfo, which no socket timeout
    # covers; the lookup gets its own deadline.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(3))
    with pytest.raises(DownloadError, match="name lookup of example.invalid timed out"):
        dl.fetch_url("https://example.invalid/sam.pth", tmp_path / "sam.pth", timeout=0.2)


def test_models_dir_that_cannot_be_written(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(blocker / "models"))
    with RangeServer(PAYLOAD) as server, weights.registered(_spec(server.url)):
        with pytest.raises(DownloadError) as info:
            weights.download("test-model")
        assert server.requests == []
    assert str(blocker / "models") in str(info.value)
    assert "ANNOTATOR_MODELS_DIR" in str(info.value)


def test_cancel_keeps_the_part_and_a_later_download_resumes():
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 1 << 20:
            cancel.set()

    with RangeServer(PAYLOAD, mode="slow", delay=0.005) as server, weights.registered(_spec(server.url)):
        with pytest.raises(CancelledError, match="kept"):
            weights.download("test-model", progress=progress, cancel=cancel)
        part = weights.model_dir("test-model") / "model.bin.part"
        kept = part.stat().st_size
        assert 0 < kept < len(PAYLOAD)
        assert not weights.is_installed("test-model")

        path = weights.download("test-model")
        assert path.read_bytes() == PAYLOAD
        assert server.requests[-1] == f"bytes={kept}-"


def test_second_download_of_the_same_file_is_refused(tmp_path):
    part = tmp_path / "model.bin.part"
    with dl._exclusive(part, tmp_path / "model.bin"), pytest.raises(DownloadError, match="already running"), \
            dl._exclusive(part, tmp_path / "model.bin"):
        pass
    with dl._exclusive(part, tmp_path / "model.bin"):  # free again afterwards
        pass
    assert not (tmp_path / "model.bin.part.lock").exists()


# --- Hugging Face snapshots ------------------------------------------------------------------
def test_hf_download_offline_is_fast_and_says_how_to_place_files():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by conftest before huggingface_hub loads
    with pytest.raises(DownloadError) as info:
        weights.download("sam2.1-tiny")
    text = str(info.value)
    folder = Path(os.environ["ANNOTATOR_MODELS_DIR"]) / "sam2.1-tiny"
    assert "HF_HUB_OFFLINE" in text
    assert "https://huggingface.co/facebook/sam2.1-hiera-tiny" in text and str(folder) in text
    assert not folder.exists()


def test_hf_progress_bridge_forwards_bytes_and_cancels(tmp_path):
    seen: list[tuple[int, int | None]] = []
    cancel = threading.Event()
    bridge = dl._tqdm_bridge(lambda d, t: seen.append((d, t)), cancel, 1000, tmp_path)
    bytes_bar = bridge(total=0, unit="B", name="huggingface_hub.snapshot_download")
    files_bar = bridge(total=3, desc="Fetching 3 files")
    bytes_bar.update(400)
    files_bar.update(1)  # file counts are not bytes: not forwarded
    bytes_bar.update(600)
    assert seen == [(400, 1000), (1000, 1000)]
    cancel.set()
    with pytest.raises(CancelledError):
        bytes_bar.update(1)


def test_hf_files_are_checked_against_hub_hashes(tmp_path):
    from huggingface_hub.hf_api import BlobLfsInfo, RepoSibling

    weights_file = tmp_path / "model.safetensors"
    weights_file.write_bytes(b"weights" * 100)
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    lfs_info = BlobLfsInfo(size=700, sha256=digest, pointer_size=130)
    lfs = RepoSibling("model.safetensors", size=700, lfs=lfs_info)
    assert dl._check_hf_file(weights_file, lfs, "org/repo") == {"size": 700, "sha256": digest}

    config = tmp_path / "config.json"
    config.write_text('{"model_type": "sam2_video"}')
    data = config.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    entry = dl._check_hf_file(config, RepoSibling("config.json", blob_id=blob), "org/repo")
    assert entry["size"] == len(data)

    bad = RepoSibling("model.safetensors", lfs=BlobLfsInfo(size=700, sha256="0" * 64, pointer_size=130))
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        dl._check_hf_file(weights_file, bad, "org/repo")
    assert not weights_file.exists()
    with pytest.raises(DownloadError, match="blob id"):
        dl._check_hf_file(config, RepoSibling("config.json", blob_id="f" * 40), "org/repo")


class FakeHub(http.server.ThreadingHTTPServer):
    """The few Hub endpoints snapshot_download and model_info use, for one repo ``org/tiny``:
    a small git file, an LFS weights file, and two files the patterns must leave out."""

    daemon_threads = True
    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, corrupt: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.files = {
            "config.json": b'{"model_type": "sam2_video"}',
            "model.safetensors": os.urandom(300_000),
            "sam2.1_hiera_tiny.pt": os.urandom(1000),  # the original checkpoint: not wanted
            "README.md": b"# tiny",
        }
        self.lfs = {"model.safetensors", "sam2.1_hiera_tiny.pt"}
        self.corrupt = corrupt
        self.fetched: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def oid(self, name: str) -> str:
        data = self.files[name]
        if name in self.lfs:
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class _HubHandler(http.server.BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file_headers(self, name: str) -> bytes:
        hub = self.server
        data = hub.files[name]
        if hub.corrupt and name == "model.safetensors":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        self.send_response(200)
        self.send_header("X-Repo-Commit", hub.COMMIT)
        self.send_header("ETag", f'"{hub.oid(name)}"')
        if name in hub.lfs:
            self.send_header("X-Linked-Etag", f'"{hub.oid(name)}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return data

    def do_HEAD(self) -> None:
        self._file_headers(self.path.split("?")[0].rsplit("/", 1)[-1])

    def do_GET(self) -> None:
        hub = self.server
        path = self.path.split("?")[0]
        if path.startswith("/api/models/org/tiny/revision/"):
            siblings = []
            for name, data in hub.files.items():
                entry = {"rfilename": name, "size": len(data), "blobId": hub.oid(name)}
                if name in hub.lfs:
                    entry["lfs"] = {"size": len(data), "sha256": hub.oid(name), "pointerSize": 130}
                siblings.append(entry)
            self._json({"id": "org/tiny", "sha": hub.COMMIT, "siblings": siblings})
        elif path.startswith(f"/api/models/org/tiny/tree/{hub.COMMIT}"):
            tree = []
            for name, data in hub.files.items():
                entry = {"type": "file", "path": name, "size": len(data), "oid": hub.oid(name)}
                if name in hub.lfs:
                    entry["lfs"] = {"oid": hub.oid(name), "size": len(data), "pointerSize": 130}
                tree.append(entry)
            self._json(tree)
        elif path.startswith(f"/org/tiny/resolve/{hub.COMMIT}/"):
            name = path.rsplit("/", 1)[-1]
            hub.fetched.append(name)
            self.wfile.write(self._file_headers(name))
        else:
            self.send_error(404)


@pytest.fixture
def hub_online(monkeypatch):
    """The tests run with HF_HUB_OFFLINE=1; these talk to a Hub on 127.0.0.1 only."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_hf_snapshot_downloads_checks_and_records_hashes(tmp_path, hub_online):
    seen: list[tuple[int, int | None]] = []
    target = tmp_path / "tiny"
    with FakeHub() as hub:
        manifest = dl.fetch_hf_snapshot("org/tiny", "main", ("*.json", "*.safetensors"), target,
                                        progress=lambda d, t: seen.append((d, t)), endpoint=hub.endpoint,
                                        manifest_extra={"name": "tiny"})
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "manifest.json", "model.safetensors"]
    assert (target / "model.safetensors").read_bytes() == hub.files["model.safetensors"]
    assert sorted(hub.fetched) == ["config.json", "model.safetensors"]  # not the .pt, not the README
    assert manifest["commit"] == FakeHub.COMMIT and manifest["name"] == "tiny"
    assert manifest["files"]["model.safetensors"]["sha256"] == hub.oid("model.safetensors")
    on_disk = json.loads((target / "manifest.json").read_text())
    assert on_disk == manifest
    total = len(hub.files["config.json"]) + len(hub.files["model.safetensors"])
    assert seen and seen[-1] == (total, total)
    assert not (tmp_path / "tiny.partial").exists()


def test_hf_snapshot_with_a_corrupted_file_is_refused(tmp_path, hub_online):
    target = tmp_path / "tiny"
    mismatch = "sha256 mismatch.*model.safetensors"
    with FakeHub(corrupt=True) as hub, pytest.raises(DownloadError, match=mismatch):
        dl.fetch_hf_snapshot("org/tiny", "main", ("*.json", "*.safetensors"), target, endpoint=hub.endpoint)
    assert not target.exists()
    assert not (tmp_path / "tiny.partial" / "model.safetensors").exists()


def test_hf_model_installs_through_the_registry(hub_online, monkeypatch):
    spec = weights.ModelSpec("tiny-sam2", ("segment", "track"), "sam2", "test", "test", 300_000,
                             hf_repo="org/tiny", revision="main", allow_patterns=("*.json", "*.safetensors"))
    with FakeHub() as hub, weights.registered(spec):
        fetch = dl.fetch_hf_snapshot
        monkeypatch.setattr(dl, "fetch_hf_snapshot", lambda *a, **k: fetch(*a, **k, endpoint=hub.endpoint))
        path = weights.download("tiny-sam2")
        assert path == weights.installed_path("tiny-sam2") == weights.model_dir("tiny-sam2")
        assert weights.verify("tiny-sam2") == (True, f"2 files match the manifest (commit {FakeHub.COMMIT})")
        assert weights.choose("track", "auto", "cpu")[0] == "tiny-sam2"
