"""Blob store for one host: one file per blob under /dev/shm, read through mmap without copying."""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
import threading
from pathlib import Path

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


class SharedMemoryBlobStore(BlobStore):
    """Blobs as files in `{root}/smartcustoms-{namespace}/`.

    A writer fills a hidden `.partial` file, which grows chunk by chunk as its bytes are reserved
    (so a directory scan counts what is reserved), and renames it into place on commit, so readers
    never see partial data. `used_bytes` is a counter, recounted from the directory at start and
    whenever a capacity check would fail (other processes release blobs too).
    """

    name = "shm"
    blocking_io = False

    def __init__(self, root: str = "/dev/shm", *, namespace: str, capacity_bytes: int | None = None) -> None:
        self.directory = Path(root) / f"smartcustoms-{validate_name(namespace)}"
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.capacity_bytes = capacity_bytes
        self._lock = threading.Lock()
        self._used_bytes = self._scan_used_bytes()

    def open_writer(self, key: str, size_bytes: int) -> BlobWriter:
        path = self._path(validate_name(key))
        if path.exists():
            raise BlobExists(key)
        with self._lock:
            self._check_room(size_bytes)
        return _ShmWriter(self, key, size_bytes)

    def read(self, ref: BlobRef) -> memoryview:
        """A read-only view over an mmap of the blob; it stays valid after the blob is released."""
        key = self.key_of(ref)
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        try:
            size_bytes = os.fstat(fd).st_size
            check_size(ref, size_bytes)
            if size_bytes == 0:  # mmap refuses empty files
                return memoryview(b"")
            return memoryview(mmap.mmap(fd, size_bytes, access=mmap.ACCESS_READ))
        finally:
            os.close(fd)

    def exists(self, ref: BlobRef) -> bool:
        return self._path(self.key_of(ref)).is_file()

    def release(self, ref: BlobRef) -> bool:
        path = self._path(self.key_of(ref))
        try:
            size_bytes = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return False
        self._unreserve(size_bytes)
        return True

    def used_bytes(self) -> int:
        with self._lock:
            return self._used_bytes

    def _path(self, key: str) -> Path:
        return self.directory / key

    def _reserve(self, size_bytes: int) -> None:
        with self._lock:
            self._check_room(size_bytes)
            self._used_bytes += size_bytes

    def _check_room(self, size_bytes: int) -> None:
        if self.capacity_bytes is not None and self._used_bytes + size_bytes > self.capacity_bytes:
            self._used_bytes = self._scan_used_bytes()  # other processes may have released blobs
        check_capacity(self.capacity_bytes, self._used_bytes, size_bytes)

    def _unreserve(self, size_bytes: int) -> None:
        with self._lock:
            self._used_bytes = max(0, self._used_bytes - size_bytes)

    def _scan_used_bytes(self) -> int:
        """Sizes of every file in the directory: committed blobs and reserved partial ones."""
        total = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # released while scanning
                    total += entry.stat(follow_symlinks=False).st_size
        return total


class _ShmWriter(BlobWriter):
    def __init__(self, store: SharedMemoryBlobStore, key: str, size_bytes: int) -> None:
        super().__init__(store, key, size_bytes)
        self._store = store
        self._partial_path = store.directory / f".{key}.{secrets.token_hex(6)}.partial"
        self._fd = os.open(self._partial_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def _write_chunk(self, view: memoryview) -> None:
        while view:
            view = view[os.write(self._fd, view) :]

    def _commit(self) -> None:
        self._close_fd()
        os.rename(self._partial_path, self._store._path(self.key))

    def _abort(self) -> None:
        self._discard_partial()
        self._store._unreserve(self.bytes_written)

    def _discard_partial(self) -> None:
        self._close_fd()
        self._partial_path.unlink(missing_ok=True)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
