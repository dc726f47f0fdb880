"""Blob store for many hosts: blobs split into Redis strings (each at most 512 MB)."""

from __future__ import annotations

import threading

import redis

from smartcustoms.core.keys import redis_prefix

from .base import (
    BlobExists,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreError,
    BlobWriter,
    check_capacity,
    check_size,
    validate_name,
)

_MiB = 1024 * 1024

# Deletes meta and segments and gives the bytes back, only if the meta existed: a second
# release, even a concurrent one, changes nothing.
_RELEASE_SCRIPT = """
local meta = redis.call('HMGET', KEYS[1], 'size', 'segments')
if not meta[1] then return 0 end
redis.call('UNLINK', KEYS[1])
for i = 0, tonumber(meta[2]) - 1 do redis.call('UNLINK', KEYS[1] .. ':' .. i) end
redis.call('DECRBY', KEYS[2], meta[1])
return 1
"""


class RedisBlobStore(BlobStore):
    """Blob `key` is a meta hash `sc:{namespace}:blob:{key}` {size, segments} plus segment strings
    `sc:{namespace}:blob:{key}:{i}`; `sc:{namespace}:used_bytes` counts committed bytes.

    Segments of an uncommitted blob expire after `partial_ttl_s`, so a crashed writer leaks
    nothing. The bytes open writers have written are counted in this process only. The client must not
    decode responses; `close` closes it.
    """

    name = "redis"
    blocking_io = True

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str,
        segment_bytes: int = 8 * _MiB,
        capacity_bytes: int | None = None,
        partial_ttl_s: int = 3600,
    ) -> None:
        if not 0 < segment_bytes <= 512 * _MiB:
            raise ValueError(f"segment_bytes must be in (0, 512 MiB], got {segment_bytes}")
        self.client = client
        self.namespace = validate_name(namespace)
        self.segment_bytes = segment_bytes
        self.capacity_bytes = capacity_bytes
        self.partial_ttl_s = partial_ttl_s
        self._used_bytes_key = f"{redis_prefix(namespace)}used_bytes"
        self._release_script = client.register_script(_RELEASE_SCRIPT)
        self._reserved_bytes = 0
        self._lock = threading.Lock()

    def meta_key(self, key: str) -> str:
        return f"{redis_prefix(self.namespace)}blob:{key}"

    def segment_key(self, key: str, index: int) -> str:
        return f"{self.meta_key(key)}:{index}"

    def open_writer(self, key: str, size_bytes: int) -> BlobWriter:
        if self.client.exists(self.meta_key(validate_name(key))):
            raise BlobExists(key)
        with self._lock:
            check_capacity(self.capacity_bytes, self._committed_bytes() + self._reserved_bytes, size_bytes)
        return _RedisWriter(self, key, size_bytes)

    def read(self, ref: BlobRef) -> memoryview:
        """Fetches the segments a few at a time into one buffer: one copy, little extra memory."""
        key = self.key_of(ref)
        size, segments = self.client.hmget(self.meta_key(key), ["size", "segments"])
        if size is None or segments is None:
            raise BlobNotFound(key)
        check_size(ref, int(size))
        buffer = bytearray(int(size))
        offset = 0
        batch = max(1, 64 * _MiB // self.segment_bytes)
        for first in range(0, int(segments), batch):
            pipe = self.client.pipeline(transaction=False)
            for index in range(first, min(first + batch, int(segments))):
                pipe.get(self.segment_key(key, index))
            for part in pipe.execute():
                if part is None:  # released while we read
                    raise BlobNotFound(key)
                buffer[offset : offset + len(part)] = part
                offset += len(part)
        check_size(ref, offset)
        return memoryview(buffer).toreadonly()

    def exists(self, ref: BlobRef) -> bool:
        return bool(self.client.exists(self.meta_key(self.key_of(ref))))

    def release(self, ref: BlobRef) -> bool:
        key = self.key_of(ref)
        return bool(self._release_script(keys=[self.meta_key(key), self._used_bytes_key]))

    def used_bytes(self) -> int:
        with self._lock:
            return self._committed_bytes() + self._reserved_bytes

    def close(self) -> None:
        self.client.close()

    def _committed_bytes(self) -> int:
        return int(self.client.get(self._used_bytes_key) or 0)

    def _reserve(self, size_bytes: int) -> None:
        with self._lock:
            if self.capacity_bytes is not None:  # else no need to ask Redis for each chunk
                used_bytes = self._committed_bytes() + self._reserved_bytes
                check_capacity(self.capacity_bytes, used_bytes, size_bytes)
            self._reserved_bytes += size_bytes

    def _unreserve(self, size_bytes: int) -> None:
        with self._lock:
            self._reserved_bytes -= size_bytes


class _RedisWriter(BlobWriter):
    """Buffers up to one segment; the last segment goes with the meta hash in one transaction."""

    def __init__(self, store: RedisBlobStore, key: str, size_bytes: int) -> None:
        super().__init__(store, key, size_bytes)
        self._store = store
        self._segment_count = -(-size_bytes // store.segment_bytes)
        self._segments_stored = 0
        self._buffer = bytearray()

    def _write_chunk(self, view: memoryview) -> None:
        segment_bytes = self._store.segment_bytes
        while view:
            take = segment_bytes - len(self._buffer)
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) == segment_bytes and self._segments_stored < self._segment_count - 1:
                self._store_segment()

    def _store_segment(self) -> None:
        key = self._store.segment_key(self.key, self._segments_stored)
        self._store.client.set(key, self._buffer, ex=self._store.partial_ttl_s)
        self._segments_stored += 1
        self._buffer = bytearray()

    def _commit(self) -> None:
        store = self._store
        pipe = store.client.pipeline(transaction=True)
        for index in range(self._segments_stored):
            pipe.persist(store.segment_key(self.key, index))
        if self._segment_count:
            pipe.set(store.segment_key(self.key, self._segment_count - 1), self._buffer)
        pipe.hset(
            store.meta_key(self.key), mapping={"size": self.size_bytes, "segments": self._segment_count}
        )
        pipe.incrby(store._used_bytes_key, self.size_bytes)
        persisted = pipe.execute()[: self._segments_stored]
        if not all(persisted):
            store.release(BlobRef(store=store.name, key=self.key, size_bytes=self.size_bytes))
            raise BlobStoreError(f"segments of blob {self.key!r} expired before commit")
        store._unreserve(self.size_bytes)
        self._buffer = bytearray()

    def _abort(self) -> None:
        keys = [self._store.segment_key(self.key, index) for index in range(self._segments_stored)]
        self._store._unreserve(self.bytes_written)
        if keys:
            self._store.client.unlink(*keys)
        self._buffer = bytearray()
