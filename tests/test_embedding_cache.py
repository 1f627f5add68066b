"""Embedding caches: the byte-bounded memory LRU and the per-video disk store."""

from __future__ import annotations

import os
import threading

import numpy as np
import torch

from annotator.engines.embedding_cache import (
    DiskEmbeddingCache,
    EmbeddingLRU,
    EmbeddingStore,
    as_frame_key,
    embedding_nbytes,
    frame_key,
)

MB = 1024 * 1024


def embedding(mb: float, fill: float = 1.0) -> dict[str, torch.Tensor]:
    """An fp32 embedding of ``mb`` megabytes plus the small integer size tensor engines add."""
    n = int(mb * MB) // 4
    return {"features": torch.full((n,), fill), "original_size": torch.tensor([90, 160])}


# --- memory LRU ----------------------------------------------------------------------------------
def test_lru_is_bounded_in_bytes_and_evicts_least_recent() -> None:
    lru = EmbeddingLRU(max_mb=3.5)
    for key in "abc":
        lru.put(key, embedding(1))
    assert len(lru) == 3
    assert lru.get("a") is not None  # "a" is now the most recent
    lru.put("d", embedding(1))  # over 3.5 MB: "b" goes, not "a"
    assert lru.ordered_keys() == ["c", "a", "d"]
    assert lru.nbytes <= 3.5 * MB
    assert lru.get("b") is None and lru.misses == 1


def test_lru_keeps_the_newest_entry_even_over_budget() -> None:
    lru = EmbeddingLRU(max_mb=1)
    lru.put("small", embedding(0.5))
    lru.put("huge", embedding(4))
    assert lru.ordered_keys() == ["huge"]  # the frame being clicked on must stay prepared


def test_lru_replace_discard_clear_account_bytes() -> None:
    lru = EmbeddingLRU(max_mb=10)
    lru.put("a", embedding(1))
    lru.put("a", embedding(2))
    assert len(lru) == 1 and lru.nbytes == embedding_nbytes(embedding(2))
    lru.discard("a")
    assert lru.nbytes == 0 and "a" not in lru
    lru.put("b", embedding(1))
    lru.clear()
    assert len(lru) == 0 and lru.nbytes == 0


def test_lru_is_thread_safe() -> None:
    lru = EmbeddingLRU(max_mb=2)

    def worker(offset: int) -> None:
        for i in range(200):
            lru.put((offset, i % 7), embedding(0.1))
            lru.get((offset, (i + 3) % 7))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lru.nbytes == sum(embedding_nbytes(lru.get(k)) for k in lru.ordered_keys())
    assert lru.nbytes <= 2 * MB


def test_frame_keys() -> None:
    assert frame_key("abc", np.int64(4)) == ("abc", 4)
    assert as_frame_key(("abc", 4)) == ("abc", 4)
    assert as_frame_key(("abc", np.int32(2))) == ("abc", 2)
    for memory_only in ("abc", ("abc", True), (1, 2), ("a", 1, 2), ("a", 1.5)):
        assert as_frame_key(memory_only) is None


# --- disk cache ----------------------------------------------------------------------------------
def test_disk_round_trip_stores_floats_as_fp16(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path)
    key = frame_key("video", 12)
    arrays = {"features": np.linspace(-3, 3, 1000, dtype=np.float16), "original_size": np.array([480, 854])}
    path = disk.save("sam-vit-b-1234", key, arrays)
    assert path == tmp_path / "video" / "sam-vit-b-1234" / "000012.safetensors"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind
    loaded = disk.load("sam-vit-b-1234", key)
    assert loaded is not None and disk.contains("sam-vit-b-1234", key)
    np.testing.assert_array_equal(loaded["features"], arrays["features"])
    np.testing.assert_array_equal(loaded["original_size"], [480, 854])
    assert disk.load("sam-vit-b-1234", frame_key("video", 13)) is None
    assert disk.load("another-model", key) is None


def test_disk_names_are_sanitised(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path)
    path = disk.path_for("../../model", frame_key("../evil/..", 1))
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_disk_evicts_least_recently_used_files(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path, max_mb=2.5)
    big = {"features": np.zeros(MB // 2, np.float16)}  # 1 MB each
    for frame in range(2):
        disk.save("m", frame_key("v", frame), big)
    # Make frame 0 older than frame 1, then read it: a read refreshes it.
    os.utime(disk.path_for("m", frame_key("v", 0)), (1, 1))
    os.utime(disk.path_for("m", frame_key("v", 1)), (2, 2))
    assert disk.load("m", frame_key("v", 0)) is not None
    disk.save("m", frame_key("v", 2), big)
    assert disk.contains("m", frame_key("v", 0)) and disk.contains("m", frame_key("v", 2))
    assert not disk.contains("m", frame_key("v", 1))
    assert disk.nbytes <= 2.5 * MB
    # A fresh instance (another session) sees what is on disk and keeps the bound.
    again = DiskEmbeddingCache(tmp_path, max_mb=1.5)
    again.save("m", frame_key("v", 3), big)
    assert again.nbytes <= 1.5 * MB and again.contains("m", frame_key("v", 3))


def test_disk_corrupt_file_is_a_miss_and_is_removed(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path)
    key = frame_key("v", 0)
    path = disk.save("m", key, {"x": np.ones(10, np.float16)})
    path.write_bytes(path.read_bytes()[:20])  # truncated, as after a crash or a full disk
    assert disk.load("m", key) is None
    assert not path.exists()


def test_disk_unwritable_cache_is_not_fatal(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    disk = DiskEmbeddingCache(blocker / "embeddings")
    assert disk.save("m", frame_key("v", 0), {"x": np.ones(4, np.float16)}) is None
    assert disk.load("m", frame_key("v", 0)) is None


def test_disk_clear_one_video(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path)
    disk.save("m", frame_key("a", 0), {"x": np.ones(4, np.float16)})
    disk.save("m", frame_key("b", 0), {"x": np.ones(4, np.float16)})
    disk.clear("a")
    assert not disk.contains("m", frame_key("a", 0)) and disk.contains("m", frame_key("b", 0))


def test_default_root_is_under_the_user_cache_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ANNOTATOR_CACHE_DIR", str(tmp_path))
    assert DiskEmbeddingCache().root == tmp_path / "embeddings"


# --- store: memory first, then disk ---------------------------------------------------------------
def test_store_reads_disk_once_then_memory(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path)
    key = frame_key("v", 5)
    EmbeddingStore("m", disk=disk).put(key, embedding(0.01, fill=0.3))
    store = EmbeddingStore("m", disk=disk)
    assert store.contains(key) and key not in store.memory
    got = store.get(key, "cpu")
    assert got is not None and got["features"].dtype == torch.float32
    assert got["original_size"].dtype == torch.int64
    assert torch.allclose(got["features"], torch.tensor(0.3), atol=1e-3)
    assert store.get(key, "cpu") is got and disk.reads == 1  # promoted to memory


def test_store_keeps_non_frame_keys_in_memory_only(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path)
    store = EmbeddingStore("m", disk=disk)
    store.put("an image", embedding(0.01))
    assert store.contains("an image") and disk.writes == 0
    assert not list(tmp_path.rglob("*.safetensors"))


def test_store_move_to_keeps_entries_in_order() -> None:
    store = EmbeddingStore("m")
    store.put("a", embedding(0.01))
    store.put("b", embedding(0.01))
    store.move_to("cpu")  # what the out-of-memory fallback does
    assert store.memory.ordered_keys() == ["a", "b"]
    assert store.get("a", "cpu")["features"].device.type == "cpu"
