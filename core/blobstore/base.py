"""The claim-check contract: a store that holds large frame payloads until the sink releases them."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from types import TracebackType

# mypy resolves smartcustoms.v1 only when proto/ is on its path (MYPYPATH=proto); without it BlobRef is Any.
from smartcustoms.v1.frame_pb2 import BlobRef

__all__ = [
    "BlobExists",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "BlobStoreError",
    "BlobStoreFull",
    "BlobWriter",
    "check_capacity",
    "check_size",
    "validate_name",
]

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


class BlobStoreError(Exception):
    """A blob store refused or failed an operation."""


class BlobNotFound(BlobStoreError):
    """No committed blob under that key (never written, or already released)."""


class BlobStoreFull(BlobStoreError):
    """Writing the blob would exceed the store's capacity."""


class BlobExists(BlobStoreError):
    """A blob under that key exists already: keys are write-once."""


def validate_name(name: str) -> str:
    """Return `name` if it is a valid key or namespace: 1-200 of [A-Za-z0-9._-], no leading dot."""
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid blob key or namespace: {name!r}")
    return name


def check_capacity(capacity_bytes: int | None, used_bytes: int, size_bytes: int) -> None:
    """Raise BlobStoreFull if `size_bytes` more would not fit; ValueError if it is negative."""
    if size_bytes < 0:
        raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
    if capacity_bytes is not None and used_bytes + size_bytes > capacity_bytes:
        raise BlobStoreFull(f"{size_bytes} bytes do not fit: {used_bytes} of {capacity_bytes} used")


def check_size(ref: BlobRef, size_bytes: int) -> None:
    """Raise BlobStoreError if the stored blob does not have the size its reference promises."""
    if size_bytes != ref.size_bytes:
        raise BlobStoreError(f"blob {ref.key!r} holds {size_bytes} bytes, reference says {ref.size_bytes}")


class BlobWriter(ABC):
    """Appends one blob chunk by chunk; nothing is readable before `commit`.

    Each chunk's bytes are reserved in the store as they are written, not the declared size up front:
    a writer that declared a large blob and sent little holds little. Backends implement
    `_write_chunk`, `_commit` and `_abort` (which gives back `bytes_written`); this class keeps the
    count of bytes and the open / committed / aborted state.
    """

    def __init__(self, store: BlobStore, key: str, size_bytes: int) -> None:
        self.key = key
        self.size_bytes = size_bytes
        self._space = store  # where each chunk's bytes are reserved
        self._bytes_written = 0
        self._state = "open"

    @property
    def bytes_written(self) -> int:
        return self._bytes_written

    def write(self, data: bytes | memoryview) -> None:
        """Reserve and append `data`. BlobStoreFull if the store has no room for it (nothing written, the
        writer stays open); BlobStoreError if the writer is closed or the declared size would be exceeded."""
        view = memoryview(data).cast("B")
        self._require_open()
        if self._bytes_written + len(view) > self.size_bytes:
            raise BlobStoreError(f"blob {self.key!r} declared {self.size_bytes} bytes, got more")
        self._space._reserve(len(view))
        try:
            self._write_chunk(view)
        except BaseException:
            self._space._unreserve(len(view))
            raise
        self._bytes_written += len(view)

    def commit(self) -> BlobRef:
        """Make the blob readable and return its reference; BlobStoreError if it is short. A commit that
        fails aborts the writer."""
        self._require_open()
        if self._bytes_written != self.size_bytes:
            raise BlobStoreError(
                f"blob {self.key!r} declared {self.size_bytes} bytes, got {self._bytes_written}"
            )
        try:
            self._commit()
        except BaseException:
            self.abort()  # gives back what was written
            raise
        self._state = "committed"
        return BlobRef(store=self._space.name, key=self.key, size_bytes=self.size_bytes)

    def abort(self) -> None:
        """Discard what was written; a no-op after `commit` or a previous `abort`."""
        if self._state == "open":
            self._state = "aborted"
            self._abort()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def _require_open(self) -> None:
        if self._state != "open":
            raise BlobStoreError(f"writer for blob {self.key!r} is {self._state}")

    @abstractmethod
    def _write_chunk(self, view: memoryview) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


class BlobStore(ABC):
    """Holds blobs by key; a `BlobRef` names one committed blob.

    Keys are write-once. Capacity counts committed bytes plus the bytes open writers have written
    (each chunk is reserved as it comes); the size a writer declares is only checked against the room
    left when it opens.
    """

    name: str
    """Backend name, equal to `BlobRef.store`."""
    blocking_io: bool
    """True if calls go over the network, so async callers should run them in a thread."""

    @abstractmethod
    def open_writer(self, key: str, size_bytes: int) -> BlobWriter:
        """A writer for a new blob of `size_bytes`; BlobStoreFull if they would not fit now, BlobExists if
        taken. Nothing is reserved yet: `BlobWriter.write` reserves each chunk."""

    @abstractmethod
    def read(self, ref: BlobRef) -> memoryview:
        """The whole payload, read-only; BlobNotFound if absent."""

    @abstractmethod
    def exists(self, ref: BlobRef) -> bool:
        """True if the blob is committed and not released."""

    @abstractmethod
    def release(self, ref: BlobRef) -> bool:
        """Delete the blob; True if it existed. Safe to repeat."""

    @abstractmethod
    def used_bytes(self) -> int:
        """Committed bytes plus bytes written by open writers."""

    @abstractmethod
    def _reserve(self, size_bytes: int) -> None:
        """Count `size_bytes` more as used; BlobStoreFull (nothing counted) if they do not fit."""

    @abstractmethod
    def _unreserve(self, size_bytes: int) -> None:
        """Count `size_bytes` fewer as used."""

    def close(self) -> None:  # noqa: B027  (optional hook: most backends hold nothing to free)
        """Free the store's own resources; blobs stay until released."""

    def key_of(self, ref: BlobRef) -> str:
        """The validated key of a reference that belongs to this store."""
        if ref.store != self.name:
            raise ValueError(f"reference to store {ref.store!r} given to store {self.name!r}")
        return validate_name(ref.key)

    def __enter__(self) -> BlobStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
