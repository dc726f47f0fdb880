"""In-process blob store: the fake twin for unit tests of pure logic."""

from __future__ import annotations

import threading

from .base import (
    BlobExists,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobWriter,
    check_capacity,
    check_size,
    validate_name,
)


class MemoryBlobStore(BlobStore):
    """Dict-backed store with the same semantics as the real backends."""

    name = "memory"
    blocking_io = False

    def __init__(self, *, capacity_bytes: int | None = None) -> None:
        self.capacity_bytes = capacity_bytes
        self._blobs: dict[str, bytes] = {}
        self._reserved_bytes = 0
        self._lock = threading.Lock()

    def open_writer(self, key: str, size_bytes: int) -> BlobWriter:
        validate_name(key)
        with self._lock:
            if key in self._blobs:
                raise BlobExists(key)
            check_capacity(self.capacity_bytes, self._used_bytes_locked(), size_bytes)
        return _MemoryWriter(self, key, size_bytes)

    def read(self, ref: BlobRef) -> memoryview:
        key = self.key_of(ref)
        with self._lock:
            data = self._blobs.get(key)
        if data is None:
            raise BlobNotFound(key)
        check_size(ref, len(data))
        return memoryview(data)

    def exists(self, ref: BlobRef) -> bool:
        return self.key_of(ref) in self._blobs

    def release(self, ref: BlobRef) -> bool:
        key = self.key_of(ref)
        with self._lock:
            return self._blobs.pop(key, None) is not None

    def used_bytes(self) -> int:
        with self._lock:
            return self._used_bytes_locked()

    def _reserve(self, size_bytes: int) -> None:
        with self._lock:
            check_capacity(self.capacity_bytes, self._used_bytes_locked(), size_bytes)
            self._reserved_bytes += size_bytes

    def _unreserve(self, size_bytes: int) -> None:
        with self._lock:
            self._reserved_bytes -= size_bytes

    def _used_bytes_locked(self) -> int:
        return self._reserved_bytes + sum(len(data) for data in self._blobs.values())

    def _settle(self, key: str, written_bytes: int, data: bytes | None) -> None:
        """Drop a writer's reservation and, if it committed, store its data."""
        with self._lock:
            self._reserved_bytes -= written_bytes
            if data is not None:
                self._blobs[key] = data


class _MemoryWriter(BlobWriter):
    def __init__(self, store: MemoryBlobStore, key: str, size_bytes: int) -> None:
        super().__init__(store, key, size_bytes)
        self._store = store
        self._buffer = bytearray()

    def _write_chunk(self, view: memoryview) -> None:
        self._buffer += view

    def _commit(self) -> None:
        self._store._settle(self.key, self.bytes_written, bytes(self._buffer))
        self._buffer = bytearray()

    def _abort(self) -> None:
        self._store._settle(self.key, self.bytes_written, None)
        self._buffer = bytearray()
