"""Stream every source at once into record frames: one source failing never stops the others.

``pump`` reads one source, turns each item into an ``online_listing`` record (``items``), and sends a
frame every ``batch_size`` records (and at the end) through ``sink`` (the SDK's ``VendorClient`` or a
fake). ``run_sources`` runs one pump per source and returns each source's stats; an error a source
raises is counted there (``failures``) and the other pumps go on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from smartcustoms.core.blobstore import BlobStore
from smartcustoms.core.listing_images import LISTING_KIND
from smartcustoms.hardware.sim.records import to_frame
from smartcustoms.v1 import frame_pb2, ingest_pb2

from .items import FeedStats, MalformedItem, record_from_item
from .sources import Source

__all__ = ["FrameSink", "pump", "run_sources"]

log = logging.getLogger(__name__)


class FrameSink(Protocol):
    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]: ...


async def pump(
    source: Source,
    sink: FrameSink,
    *,
    batch_size: int = 100,
    blobs: BlobStore | None = None,
    sequence: int = 0,
) -> FeedStats:
    """Read ``source`` to its end, sending its records in frames; returns its stats."""
    stats = source.stats
    batch: list[frame_pb2.Record] = []
    sent = 0

    async def flush() -> None:
        nonlocal batch, sent
        if batch:
            frame = to_frame(
                frame_pb2.RecordBatch(records=batch),
                source_id=f"feed-{source.name}",
                sequence=sequence + sent,
            )
            frame.metadata["feed"] = source.name
            await sink.send(frame)
            sent += 1
            batch = []

    try:
        async for fetched in source.fetch():
            try:
                make = functools.partial(
                    record_from_item,
                    fetched.item,
                    source=source.name,
                    kind=getattr(source, "kind", LISTING_KIND),
                    image=fetched.image,
                    blobs=blobs,
                    stats=stats,
                )
                # an image's signatures take a millisecond or two: off the loop other sources share
                record = await asyncio.to_thread(make) if fetched.image is not None else make()
            except MalformedItem as error:
                stats.malformed += 1
                stats.note(str(error))
                continue
            stats.items += 1
            batch.append(record)
            if len(batch) >= batch_size:
                await flush()
        await flush()
    except Exception as error:
        stats.failures += 1
        stats.note(f"{type(error).__name__}: {error}")
        log.warning("feed %s stopped: %s", source.name, error)
        await flush()
    return stats


async def run_sources(
    sources: Sequence[Source], sink: FrameSink, *, batch_size: int = 100, blobs: BlobStore | None = None
) -> dict[str, FeedStats]:
    """Every source's pump at once; each source's stats by its name."""
    base = int(time.time() * 1e6)  # sequences rise across runs, as the gateway's idempotency expects
    results = await asyncio.gather(
        *(
            pump(s, sink, batch_size=batch_size, blobs=blobs, sequence=base + n * 10**9)
            for n, s in enumerate(sources)
        )
    )
    return {s.name: r for s, r in zip(sources, results, strict=True)}
