"""The blob store contract, run against every backend, plus what is particular to each."""

from __future__ import annotations

import hashlib
import mmap
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from smartcustoms.core.blobstore import (
    BlobExists,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobStoreFull,
    MemoryBlobStore,
    RedisBlobStore,
    SharedMemoryBlobStore,
    open_blob_store,
)
from smartcustoms.v1.frame_pb2 import BlobRef

MiB = 1024 * 1024
_rng = random.Random(1234)
CHUNKS: list[bytes | memoryview] = [
    b"",
    _rng.randbytes(1),
    _rng.randbytes(100),
    b"",
    memoryview(_rng.randbytes(63)),
    _rng.randbytes(300),
    memoryview(b""),
]
DATA = b"".join(CHUNKS)

StoreFactory = Callable[..., BlobStore]


@pytest.fixture(params=["memory", "shm", pytest.param("redis", marks=pytest.mark.integration)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores of one backend that share a fresh namespace; redis ones use 64-byte segments."""
    kind: str = request.param
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    stores: list[BlobStore] = []

    def make(capacity_bytes: int | None = None) -> BlobStore:
        store: BlobStore
        if kind == "memory":
            store = MemoryBlobStore(capacity_bytes=capacity_bytes)
        elif kind == "shm":
            store = SharedMemoryBlobStore(str(tmp_path), namespace=namespace, capacity_bytes=capacity_bytes)
        else:
            client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
            store = RedisBlobStore(
                client, namespace=namespace, segment_bytes=64, capacity_bytes=capacity_bytes
            )
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> BlobStore:
    return make_store()


def write_blob(store: BlobStore, key: str, chunks: Iterable[bytes | memoryview]) -> BlobRef:
    chunks = list(chunks)
    with store.open_writer(key, sum(len(chunk) for chunk in chunks)) as writer:
        for chunk in chunks:
            writer.write(chunk)
        return writer.commit()


# ---------------------------------------------------------------- contract, every backend


def test_blob_written_in_chunks_reads_back(store: BlobStore) -> None:
    ref = write_blob(store, "frame-1", CHUNKS)

    assert ref == BlobRef(store=store.name, key="frame-1", size_bytes=len(DATA))
    assert store.exists(ref)
    view = store.read(ref)
    assert view.readonly
    assert bytes(view) == DATA


def test_release_is_idempotent(store: BlobStore) -> None:
    ref = write_blob(store, "frame-1", [b"payload"])

    assert store.release(ref) is True
    assert store.release(ref) is False
    assert not store.exists(ref)
    with pytest.raises(BlobNotFound):
        store.read(ref)


def test_used_bytes_counts_written_committed_and_released(store: BlobStore) -> None:
    writer = store.open_writer("a", 10)
    assert store.used_bytes() == 0  # the declared size is not reserved: each chunk is, as it comes
    writer.write(b"0123")
    assert store.used_bytes() == 4
    writer.write(b"456789")
    ref = writer.commit()
    assert store.used_bytes() == 10

    aborted = store.open_writer("b", 5)
    aborted.write(b"ab")
    assert store.used_bytes() == 12
    aborted.abort()
    assert store.used_bytes() == 10
    store.release(ref)
    assert store.used_bytes() == 0


def test_writing_past_declared_size_fails(store: BlobStore) -> None:
    with store.open_writer("a", 4) as writer:
        writer.write(b"abc")
        with pytest.raises(BlobStoreError, match="declared 4 bytes"):
            writer.write(b"de")
        assert writer.bytes_written == 3
    assert not store.exists(BlobRef(store=store.name, key="a", size_bytes=4))
    assert store.used_bytes() == 0


def test_commit_of_short_blob_fails(store: BlobStore) -> None:
    with store.open_writer("a", 4) as writer:
        writer.write(b"abc")
        with pytest.raises(BlobStoreError, match="got 3"):
            writer.commit()
    assert not store.exists(BlobRef(store=store.name, key="a", size_bytes=4))
    assert store.used_bytes() == 0


def test_abort_leaves_nothing_and_frees_the_key(store: BlobStore) -> None:
    writer = store.open_writer("a", len(DATA))
    writer.write(DATA[:200])
    writer.abort()
    writer.abort()

    assert not store.exists(BlobRef(store=store.name, key="a", size_bytes=len(DATA)))
    assert store.used_bytes() == 0
    with pytest.raises(BlobStoreError, match="aborted"):
        writer.write(b"x")
    assert bytes(store.read(write_blob(store, "a", [DATA]))) == DATA


def test_writer_aborts_when_its_block_raises(store: BlobStore) -> None:
    with pytest.raises(RuntimeError), store.open_writer("a", 10) as writer:
        writer.write(b"01234")
        raise RuntimeError("upload broke")
    assert not store.exists(BlobRef(store=store.name, key="a", size_bytes=10))
    assert store.used_bytes() == 0


def test_abort_after_commit_changes_nothing(store: BlobStore) -> None:
    writer = store.open_writer("a", 3)
    writer.write(b"abc")
    ref = writer.commit()
    writer.abort()

    assert bytes(store.read(ref)) == b"abc"
    with pytest.raises(BlobStoreError, match="committed"):
        writer.write(b"")
    with pytest.raises(BlobStoreError, match="committed"):
        writer.commit()


def test_keys_are_write_once(store: BlobStore) -> None:
    write_blob(store, "a", [b"first"])
    with pytest.raises(BlobExists):
        store.open_writer("a", 6)


def test_capacity_counts_written_and_committed_bytes(make_store: StoreFactory) -> None:
    store = make_store(capacity_bytes=100)
    with pytest.raises(BlobStoreFull):
        store.open_writer("x", 101)  # could never fit
    first = store.open_writer("a", 60)
    second = store.open_writer("b", 60)  # declared sizes are not reserved: both may open
    first.write(bytes(50))
    second.write(bytes(50))
    with pytest.raises(BlobStoreFull):
        first.write(bytes(10))
    assert (first.bytes_written, store.used_bytes()) == (50, 100)  # nothing written, still open
    second.abort()  # gives back its 50 bytes

    first.write(bytes(10))
    ref = first.commit()
    assert store.used_bytes() == 60
    with pytest.raises(BlobStoreFull):
        store.open_writer("c", 41)  # a declared size is checked against the room left
    store.release(ref)
    store.open_writer("c", 100).abort()


def test_a_failed_commit_gives_back_what_was_written(store: BlobStore) -> None:
    writer = store.open_writer("a", 4)
    writer.write(b"abcd")
    writer._commit = _raise  # type: ignore[method-assign]  # a backend failing mid-commit
    with pytest.raises(BlobStoreError, match="commit failed"):
        writer.commit()
    assert store.used_bytes() == 0
    with pytest.raises(BlobStoreError, match="aborted"):
        writer.write(b"")


def _raise() -> None:
    raise BlobStoreError("commit failed")


def test_zero_size_blob(store: BlobStore) -> None:
    ref = write_blob(store, "empty", [b""])

    assert ref.size_bytes == 0
    assert store.exists(ref)
    assert bytes(store.read(ref)) == b""
    assert store.release(ref) is True


@pytest.mark.parametrize("key", ["", "a/b", "..", "../x", ".hidden", "a b", "a:b", "é", "k" * 201])
def test_invalid_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.open_writer(key, 1)
    with pytest.raises(ValueError, match="invalid blob key"):
        store.read(BlobRef(store=store.name, key=key, size_bytes=1))


def test_bad_requests_are_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="size_bytes"):
        store.open_writer("a", -1)
    with pytest.raises(ValueError, match="reference to store"):
        store.read(BlobRef(store="elsewhere", key="a", size_bytes=1))
    with pytest.raises(BlobNotFound):
        store.read(BlobRef(store=store.name, key="never-written", size_bytes=1))
    ref = write_blob(store, "a", [b"abc"])
    with pytest.raises(BlobStoreError, match="reference says 4"):
        store.read(BlobRef(store=store.name, key=ref.key, size_bytes=4))


# ---------------------------------------------------------------- shared memory


def test_shm_read_is_an_mmap_that_outlives_release(tmp_path: Path) -> None:
    store = SharedMemoryBlobStore(str(tmp_path), namespace="t")
    ref = write_blob(store, "a", [DATA])
    view = store.read(ref)
    store.release(ref)

    assert isinstance(view.obj, mmap.mmap)
    assert bytes(view) == DATA


def test_shm_partial_data_stays_hidden(tmp_path: Path) -> None:
    store = SharedMemoryBlobStore(str(tmp_path), namespace="t")
    writer = store.open_writer("a", 3)
    writer.write(b"ab")
    (partial,) = store.directory.iterdir()
    assert partial.name.startswith(".a.")
    assert not store.exists(BlobRef(store="shm", key="a", size_bytes=3))

    writer.write(b"c")
    writer.commit()
    assert [path.name for path in store.directory.iterdir()] == ["a"]
    store.open_writer("b", 3).abort()
    assert [path.name for path in store.directory.iterdir()] == ["a"]


def test_shm_restart_recounts_used_bytes(tmp_path: Path) -> None:
    store = SharedMemoryBlobStore(str(tmp_path), namespace="t")
    write_blob(store, "a", [bytes(30)])
    writer = store.open_writer("b", 20)
    writer.write(bytes(7))

    assert SharedMemoryBlobStore(str(tmp_path), namespace="t").used_bytes() == 37
    writer.abort()


def test_shm_capacity_sees_releases_by_another_process(tmp_path: Path) -> None:
    writer_side = SharedMemoryBlobStore(str(tmp_path), namespace="t", capacity_bytes=100)
    sink_side = SharedMemoryBlobStore(str(tmp_path), namespace="t")
    sink_side.release(write_blob(writer_side, "a", [bytes(80)]))

    writer_side.open_writer("b", 90).abort()


# ---------------------------------------------------------------- redis


@pytest.fixture
def redis_store(redis_client: redis.Redis) -> RedisBlobStore:
    return RedisBlobStore(redis_client, namespace=f"test-{uuid.uuid4().hex[:12]}", segment_bytes=4)


@pytest.mark.integration
def test_redis_splits_blobs_into_segments(redis_store: RedisBlobStore, redis_client: redis.Redis) -> None:
    write_blob(redis_store, "a", [b"0123456", b"789"])

    meta = redis_client.hgetall(redis_store.meta_key("a"))
    assert meta == {b"size": b"10", b"segments": b"3"}
    segments = [redis_client.get(redis_store.segment_key("a", i)) for i in range(3)]
    assert segments == [b"0123", b"4567", b"89"]
    assert all(redis_client.ttl(redis_store.segment_key("a", i)) == -1 for i in range(3))
    assert redis_store.used_bytes() == 10


@pytest.mark.integration
def test_redis_uncommitted_segments_expire_and_abort_deletes_them(
    redis_store: RedisBlobStore, redis_client: redis.Redis
) -> None:
    writer = redis_store.open_writer("a", 10)
    writer.write(b"012345678")
    keys = [redis_store.segment_key("a", i) for i in range(2)]
    assert all(0 < redis_client.ttl(key) <= redis_store.partial_ttl_s for key in keys)

    writer.abort()
    assert redis_client.exists(*keys) == 0


@pytest.mark.integration
def test_redis_concurrent_releases_give_bytes_back_once(redis_store: RedisBlobStore) -> None:
    ref = write_blob(redis_store, "a", [bytes(10)])
    with ThreadPoolExecutor(max_workers=8) as pool:
        released = list(pool.map(lambda _: redis_store.release(ref), range(8)))

    assert released.count(True) == 1
    assert redis_store.used_bytes() == 0


@pytest.mark.integration
def test_redis_used_bytes_survive_a_restart(redis_store: RedisBlobStore, redis_client: redis.Redis) -> None:
    write_blob(redis_store, "a", [bytes(10)])
    assert RedisBlobStore(redis_client, namespace=redis_store.namespace).used_bytes() == 10


# ---------------------------------------------------------------- large blobs


def _large_blob_roundtrip(store: BlobStore) -> None:
    data = random.Random(7).randbytes(64 * MiB)
    chunk_bytes = 3 * MiB + 17  # crosses segment boundaries at odd offsets
    with store.open_writer("ct-volume", len(data)) as writer:
        for start in range(0, len(data), chunk_bytes):
            writer.write(memoryview(data)[start : start + chunk_bytes])
        ref = writer.commit()
    assert hashlib.sha256(store.read(ref)).digest() == hashlib.sha256(data).digest()
    assert store.release(ref)
    assert store.used_bytes() == 0


def test_shm_holds_a_64_mib_blob(tmp_path: Path) -> None:
    _large_blob_roundtrip(SharedMemoryBlobStore(str(tmp_path), namespace="t"))


@pytest.mark.integration
def test_redis_holds_a_64_mib_blob_in_1_mib_segments(redis_client: redis.Redis) -> None:
    store = RedisBlobStore(redis_client, namespace=f"test-{uuid.uuid4().hex[:12]}", segment_bytes=MiB)
    _large_blob_roundtrip(store)


# ---------------------------------------------------------------- factory


@pytest.mark.parametrize(
    ("kind", "store_class"),
    [
        ("memory", MemoryBlobStore),
        ("shm", SharedMemoryBlobStore),
        pytest.param("redis", RedisBlobStore, marks=pytest.mark.integration),
    ],
)
def test_open_blob_store_makes_each_kind(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, store_class: type[Any]
) -> None:
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    with open_blob_store(kind, namespace="factory", shm_root=str(tmp_path), redis_url=redis_url) as store:
        assert isinstance(store, store_class)
        assert store.name == kind
        assert bytes(store.read(write_blob(store, "a", [b"abc"]))) == b"abc"


def test_open_blob_store_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown blob store kind"):
        open_blob_store("s3", namespace="x")
    with pytest.raises(ValueError, match="redis_url"):
        open_blob_store("redis", namespace="x")
