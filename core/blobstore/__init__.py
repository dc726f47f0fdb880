"""Claim-check blob store: large frame payloads wait here while the streams carry a `BlobRef`."""

from __future__ import annotations

import redis as redis_client

from .base import BlobExists, BlobNotFound, BlobStore, BlobStoreError, BlobStoreFull, BlobWriter
from .memory import MemoryBlobStore
from .redis import RedisBlobStore
from .shm import SharedMemoryBlobStore

__all__ = [
    "BlobExists",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "BlobStoreFull",
    "BlobWriter",
    "MemoryBlobStore",
    "RedisBlobStore",
    "SharedMemoryBlobStore",
    "open_blob_store",
]


def open_blob_store(
    kind: str,
    *,
    namespace: str,
    shm_root: str = "/dev/shm",
    redis_url: str | None = None,
    capacity_bytes: int | None = None,
) -> BlobStore:
    """Open the store named by `kind` ("shm", "redis" or "memory"), the `BlobRef.store` it writes."""
    if kind == "shm":
        return SharedMemoryBlobStore(shm_root, namespace=namespace, capacity_bytes=capacity_bytes)
    if kind == "redis":
        if redis_url is None:
            raise ValueError("the redis blob store needs redis_url")
        client = redis_client.Redis.from_url(redis_url, decode_responses=False)
        return RedisBlobStore(client, namespace=namespace, capacity_bytes=capacity_bytes)
    if kind == "memory":
        return MemoryBlobStore(capacity_bytes=capacity_bytes)
    raise ValueError(f"unknown blob store kind {kind!r}: expected 'shm', 'redis' or 'memory'")
