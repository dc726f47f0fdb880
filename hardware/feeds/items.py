"""One fetched item (a listing, a post, a news entry) as an ``online_listing`` record.

Every record keeps where it came from and when: ``source`` (the connector's name), ``url``,
``fetched_at`` (seconds since the epoch) and ``content_hash`` (SHA-256 of the item's canonical JSON,
image bytes excluded). Scalar fields of the item are kept as strings; nested ones as JSON. An image the
connector could fetch is stored in the blob store under its own SHA-256 (``image_ref``:
``store:key``) and described by ``image_sha256``, ``image_phash`` and ``image_ehash``
(``smartcustoms.core.listing_images``); one it could not read leaves ``image_error``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smartcustoms.core.blobstore import BlobExists, BlobStore, BlobStoreError
from smartcustoms.core.listing_images import LISTING_KIND, BrokenImage, signature_of
from smartcustoms.v1 import frame_pb2

__all__ = ["FeedStats", "MalformedItem", "content_hash", "record_from_item"]

MAX_FIELD_CHARS = 8000
RESERVED = frozenset({"source", "fetched_at", "content_hash"})


class MalformedItem(ValueError):
    """An item that cannot become a record (not an object, no id)."""


@dataclass
class FeedStats:
    """What one source did: counted, never raised past the connector."""

    items: int = 0  # records made
    malformed: int = 0  # items skipped: not an object, no id, bad JSON or CSV line
    broken_images: int = 0  # images that could not be fetched or read (the record goes without)
    retries: int = 0  # requests tried again (timeouts, 429, 5xx)
    rate_limited: int = 0  # 429 answers
    server_errors: int = 0  # 5xx answers
    failures: int = 0  # fetches given up on after the retries
    pages: int = 0
    errors: list[str] = field(default_factory=list)  # the last few failures, one line each

    def note(self, line: str) -> None:
        self.errors = [*self.errors[-9:], line]


def content_hash(item: Mapping[str, Any]) -> str:
    """SHA-256 of the item's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = str(value)
    elif value is None:
        text = ""
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text[:MAX_FIELD_CHARS]


def record_from_item(
    item: Any,
    *,
    source: str,
    image: bytes | None = None,
    blobs: BlobStore | None = None,
    fetched_at_s: float | None = None,
    stats: FeedStats | None = None,
    kind: str = LISTING_KIND,
) -> frame_pb2.Record:
    """The record of one item; ``MalformedItem`` if it has no usable id. ``image``: the bytes fetched;
    ``kind``: what the feed carries (listings by default; ``news_item`` for a news feed)."""
    if not isinstance(item, Mapping):
        raise MalformedItem(f"item is a {type(item).__name__}, not an object")
    item_id = _text(item.get("id") or item.get("guid") or item.get("url") or item.get("link")).strip()
    if not item_id:
        raise MalformedItem("item has no id, guid, url or link")
    fields = {str(k): _text(v) for k, v in item.items() if str(k) not in RESERVED and v is not None}
    fields["source"] = source
    fields["url"] = fields.get("url") or fields.get("link", "")
    fields["fetched_at"] = f"{time.time() if fetched_at_s is None else fetched_at_s:.3f}"
    fields["content_hash"] = content_hash(item)
    if image is not None:
        fields.update(_image_fields(image, blobs, stats))
    record_id = f"{source}:{item_id}"[:200]
    return frame_pb2.Record(record_id=record_id, kind=kind, fields=fields)


def _image_fields(image: bytes, blobs: BlobStore | None, stats: FeedStats | None) -> dict[str, str]:
    try:
        signature = signature_of(image)
    except BrokenImage as error:
        if stats is not None:
            stats.broken_images += 1
        return {"image_error": str(error)[:200]}
    fields = {
        "image_sha256": signature.sha256,
        "image_phash": signature.phash,
        "image_ehash": signature.ehash,
    }
    if blobs is not None:
        key = f"listing-image-{signature.sha256}"
        try:
            with blobs.open_writer(key, len(image)) as writer:
                writer.write(image)
                writer.commit()
        except BlobExists:
            pass  # the same image seen before: one copy is kept
        except BlobStoreError as error:
            fields["image_error"] = f"not stored: {error}"[:200]
            return fields
        fields["image_ref"] = f"{blobs.name}:{key}"
    return fields
