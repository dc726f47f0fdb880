"""``smartcustoms feeds``: listings, posts and news from exports, feeds and APIs into the runtime.

    smartcustoms feeds [--jsonl FILE]... [--csv FILE]... [--rss URL|FILE]... [--api URL]...
                       [--news URL|FILE]... [--gateway HOST:PORT] [--batch-size 100] [--no-images]
                       [--no-resume] [--tls-ca CA.pem --tls-cert DEVICE.pem --tls-key DEVICE.key]

Every source runs at once (``smartcustoms.hardware.feeds``); each item becomes an ``online_listing``
record (a ``--news`` feed's stories ``news_item`` records, for crime analytics) with its source, URL,
time fetched and content hash, and its image (a JSON Lines item's ``image_file``, an API item's
``image_url``) goes into the configured blob store, the record keeping its reference and signatures.
The API sources page by cursor and keep their resume point in the configured Redis
(``sc:<namespace>:feeds:resume:<name>``), so the next run goes on where this one stopped. Bad items,
broken images, timeouts, 429 and 5xx answers are counted per source, one line each at the end; one
source failing never stops the others.

Exit codes: 0 every frame accepted, 1 a frame was refused or the gateway could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

from smartcustoms.runtime.tls import add_sender_arguments, sender_credentials
from smartcustoms.v1 import frame_pb2, ingest_pb2

CLOSE_TIMEOUT_S = 60.0
OK = 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = commands.add_parser(
        "feeds",
        help="stream listings, posts and news (JSON Lines, CSV, RSS/Atom, a JSON listings API) as records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument(
        "--jsonl", type=Path, action="append", default=[], metavar="FILE", help="JSON Lines export"
    )
    top.add_argument("--csv", type=Path, action="append", default=[], metavar="FILE", help="CSV export")
    top.add_argument("--rss", action="append", default=[], metavar="URL|FILE", help="RSS or Atom feed")
    top.add_argument(
        "--news",
        action="append",
        default=[],
        metavar="URL|FILE",
        help="RSS or Atom news feed: its stories go to crime analytics as news_item records",
    )
    top.add_argument(
        "--api", action="append", default=[], metavar="URL", help="JSON listings API, paged by cursor"
    )
    top.add_argument("--gateway", metavar="HOST:PORT", help="ingest gateway (default: the configured)")
    add_sender_arguments(top)
    top.add_argument("--batch-size", type=int, default=100, help="records per frame (%(default)s)")
    top.add_argument("--no-images", action="store_true", help="keep image signatures, store no image bytes")
    top.add_argument("--no-resume", action="store_true", help="start the APIs from their first page")
    top.set_defaults(handler=cmd_feeds)


class _AckedSink:
    """The SDK client, with each frame's answer counted."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.accepted = 0
        self.refused: list[str] = []

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        future: asyncio.Future[ingest_pb2.IngestAck] = await self.client.send(frame, payload)
        future.add_done_callback(self._answered)
        return future

    def _answered(self, done: asyncio.Future[ingest_pb2.IngestAck]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        ack = done.result()
        if ack.code == OK:
            self.accepted += 1
        else:
            self.refused.append(f"frame {ack.frame_id}: {ack.message}")


def cmd_feeds(args: argparse.Namespace) -> int:
    from smartcustoms.core import config as config_module
    from smartcustoms.core.blobstore import BlobStore, open_blob_store
    from smartcustoms.core.keys import redis_prefix
    from smartcustoms.hardware.feeds.sources import (
        CsvSource,
        JsonLinesSource,
        ListingsApiSource,
        MemoryResumePoints,
        RedisResumePoints,
        ResumePoints,
        RssSource,
        Source,
    )

    config = config_module.load(getattr(args, "config", None))
    try:  # the feed connector sends each feed as feed-<name>: under mutual TLS, its certificate is "feed"
        credentials = sender_credentials(args, config.gateway)
    except (ValueError, OSError) as error:
        print(f"smartcustoms feeds: {error}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        resume: ResumePoints = MemoryResumePoints()
        if not args.no_resume and args.api:
            import redis

            client = stack.enter_context(contextlib.closing(redis.Redis.from_url(config.redis.url)))
            resume = RedisResumePoints(client, redis_prefix(config.namespace))
        sources: list[Source] = [
            *(JsonLinesSource(p) for p in args.jsonl),
            *(CsvSource(p) for p in args.csv),
            *(RssSource(u, f"rss{n}") for n, u in enumerate(args.rss)),
            *(RssSource(u, f"news{n}", kind="news_item") for n, u in enumerate(args.news)),
            *(ListingsApiSource(u, resume, f"api{n}") for n, u in enumerate(args.api)),
        ]
        if not sources:
            print(
                "smartcustoms feeds: give at least one --jsonl, --csv, --rss, --news or --api",
                file=sys.stderr,
            )
            return 2
        blobs: BlobStore | None = None
        if not args.no_images:
            blobs = open_blob_store(
                config.blobstore.kind,
                namespace=config.namespace,
                shm_root=config.blobstore.shm_root,
                redis_url=config.redis.url,
            )
            stack.callback(blobs.close)
        host = "127.0.0.1" if config.gateway.host in ("", "0.0.0.0", "::") else config.gateway.host
        gateway = args.gateway or f"{host}:{config.gateway.port}"
        code, sink, stats = asyncio.run(_run(sources, gateway, args.batch_size, blobs, credentials))
    for name, s in stats.items():
        print(
            f"feed {name}: {s.items} records, {s.pages} pages, {s.malformed} malformed, "
            f"{s.broken_images} broken images, {s.retries} retries ({s.rate_limited} x 429, "
            f"{s.server_errors} x 5xx), {s.failures} failures"
            + (f"; last: {s.errors[-1]}" if s.errors else "")
        )
    for line in sink.refused:
        print(f"smartcustoms feeds: {line}", file=sys.stderr)
    return code or (1 if sink.refused else 0)


async def _run(
    sources: list[Any], gateway: str, batch_size: int, blobs: Any, credentials: Any = None
) -> tuple[int, _AckedSink, dict[str, Any]]:
    from smartcustoms.hardware.feeds.runner import run_sources
    from smartcustoms.hardware.sdk.client import IngestError, RetryPolicy, VendorClient

    logging.getLogger("smartcustoms.hardware.sdk.client").setLevel(logging.ERROR)
    client = VendorClient(gateway, retry=RetryPolicy(max_attempts=8), credentials=credentials)
    await client.start()
    sink = _AckedSink(client)
    try:
        stats = await run_sources(sources, sink, batch_size=batch_size, blobs=blobs)
        await client.close(CLOSE_TIMEOUT_S)
    except IngestError as error:
        await client.abort()
        print(f"smartcustoms feeds: gateway {gateway}: {error}", file=sys.stderr)
        return 1, sink, {s.name: s.stats for s in sources}
    return 0, sink, stats
