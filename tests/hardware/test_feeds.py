"""Feed connectors against feeds and APIs served locally: paging, 429/500, timeouts, bad items, resume."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from smartcustoms.core.blobstore import MemoryBlobStore
from smartcustoms.core.listing_images import LISTING_KIND
from smartcustoms.hardware.feeds.items import FeedStats, MalformedItem, record_from_item
from smartcustoms.hardware.feeds.runner import run_sources
from smartcustoms.hardware.feeds.sources import (
    CsvSource,
    Fetched,
    JsonLinesSource,
    ListingsApiSource,
    MemoryResumePoints,
    RssSource,
)
from smartcustoms.hardware.sdk.retry import RetryPolicy
from smartcustoms.v1 import frame_pb2, ingest_pb2

FAST_RETRY = RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.02, max_attempts=3)


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "JPEG")
    return out.getvalue()


class ListSink:
    def __init__(self) -> None:
        self.frames: list[frame_pb2.Frame] = []

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        self.frames.append(frame)
        done: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        done.set_result(ingest_pb2.IngestAck())
        return done

    def records(self) -> list[frame_pb2.Record]:
        batches = [frame_pb2.RecordBatch.FromString(f.payload) for f in self.frames]
        return [r for b in batches for r in b.records]


async def serve(app: web.Application, body: Callable[[str], Awaitable[None]]) -> None:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started TCP site
    try:
        await body(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def test_record_keeps_source_time_hash_and_image_signatures() -> None:
    blobs = MemoryBlobStore()
    stats = FeedStats()
    item = {"id": "x1", "title": "Velox sneakers", "price": 120, "tags": ["a"], "url": "https://p.example/x1"}
    record = record_from_item(item, source="hkbuy", image=jpeg((200, 30, 40)), blobs=blobs, fetched_at_s=5.0)
    again = record_from_item(item, source="hkbuy", image=jpeg((200, 30, 40)), blobs=blobs, fetched_at_s=6.0)
    assert record.kind == LISTING_KIND and record.record_id == "hkbuy:x1"
    fields = record.fields
    assert fields["source"] == "hkbuy" and fields["fetched_at"] == "5.000" and fields["price"] == "120"
    assert fields["tags"] == '["a"]' and len(fields["content_hash"]) == 64
    assert again.fields["content_hash"] == fields["content_hash"]  # the content, not the fetch time
    assert len(fields["image_phash"]) == 16 and fields["image_ref"].startswith("memory:listing-image-")
    broken = record_from_item({"id": "x2"}, source="s", image=b"\xff\xd8 not a jpeg", stats=stats)
    assert "image_error" in broken.fields and stats.broken_images == 1
    for bad in (["not", "an", "object"], {"title": "no id"}):
        with pytest.raises(MalformedItem):
            record_from_item(bad, source="s")


def test_files_count_bad_lines_and_go_on(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg((1, 2, 3)))
    jsonl = tmp_path / "listings.jsonl"
    jsonl.write_text(
        '{"id": "1", "title": "ok", "image_file": "a.jpg"}\n{broken\n\n["no id"]\n'
        '{"id": "3", "image_file": "missing.jpg"}\n',
        encoding="utf-8",
    )
    csv_file = tmp_path / "listings.csv"
    csv_file.write_text("id,title\n1,one\n2,two,extra\n3,three\n", encoding="utf-8")
    sources = [JsonLinesSource(jsonl), CsvSource(csv_file)]
    sink = ListSink()
    stats = asyncio.run(run_sources(sources, sink, batch_size=2))
    assert stats["jsonl-listings"].items == 2 and stats["jsonl-listings"].malformed == 2
    assert stats["jsonl-listings"].broken_images == 1
    assert stats["csv-listings"].items == 2 and stats["csv-listings"].malformed == 1
    ids = sorted(r.record_id for r in sink.records())
    assert ids == ["csv-listings:1", "csv-listings:3", "jsonl-listings:1", "jsonl-listings:3"]
    assert all(f.metadata["record_kind"] == LISTING_KIND for f in sink.frames)


def listings_api(pages: int, per_page: int) -> tuple[web.Application, dict[str, int]]:
    """A paged API that answers 429 then 500 before its second page, with one image missing."""
    seen = {"429": 0, "500": 0, "slow": 0}
    items = [
        {"id": f"i{n}", "title": f"item {n}", "image_url": f"/img/{n}.jpg"} for n in range(pages * per_page)
    ]

    async def page(request: web.Request) -> web.Response:
        start = int(request.query.get("cursor") or 0)
        if start == per_page and seen["429"] == 0:
            seen["429"] += 1
            return web.Response(status=429, headers={"Retry-After": "0"})
        if start == per_page and seen["500"] == 0:
            seen["500"] += 1
            return web.Response(status=500)
        chunk = items[start : start + per_page]
        following = str(start + per_page) if start + per_page < len(items) else None
        return web.json_response({"items": chunk, "next": following})

    async def image(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 1:
            return web.Response(status=404)
        return web.Response(body=jpeg((n * 20 % 255, 50, 90)), content_type="image/jpeg")

    async def slow(request: web.Request) -> web.Response:
        seen["slow"] += 1
        await asyncio.sleep(1)
        return web.Response(text="late")

    async def rss(request: web.Request) -> web.Response:
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>news</title>'
            "<item><guid>n1</guid><title>Seizure of fake Aurelia bags</title><link>http://n/1</link></item>"
            "<item><title>no id or link</title></item>"
            "</channel></rss>"
        )
        return web.Response(text=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/listings", page)
    app.router.add_get("/img/{n}.jpg", image)
    app.router.add_get("/slow", slow)
    app.router.add_get("/rss", rss)
    return app, seen


def test_api_pages_through_429_and_500_resumes_and_other_sources_go_on() -> None:
    app, seen = listings_api(pages=3, per_page=4)
    resume = MemoryResumePoints()
    sink = ListSink()
    result: dict[str, FeedStats] = {}

    async def body(base: str) -> None:
        api = ListingsApiSource(f"{base}/listings", resume, "market", page_size=4, retry=FAST_RETRY)
        feeds = [
            api,
            RssSource(f"{base}/rss", "news", retry=FAST_RETRY),
            RssSource(f"{base}/slow", "stalled", timeout_s=0.2, retry=FAST_RETRY),
            RssSource(f"{base}/nowhere", "missing", retry=FAST_RETRY),
        ]
        result.update(await run_sources(feeds, sink, batch_size=5, blobs=MemoryBlobStore()))
        # a restarted poller starts at the kept cursor: the last page only
        again = ListingsApiSource(f"{base}/listings", resume, "market", page_size=4, retry=FAST_RETRY)
        result["again"] = again.stats
        async for fetched in again.fetch():
            assert isinstance(fetched, Fetched)
            again.stats.items += 1

    asyncio.run(serve(app, body))
    market = result["market"]
    assert market.items == 12 and market.pages == 3
    assert market.rate_limited == 1 and market.server_errors == 1 and market.retries >= 2
    assert market.broken_images == 1 and seen["429"] == 1
    assert resume.get("market") == "8"
    assert result["again"].items == 4
    assert result["news"].items == 1 and result["news"].malformed == 1
    assert result["stalled"].failures == 1 and seen["slow"] == 3  # timed out on each of 3 attempts
    assert result["missing"].failures == 1  # 404: final, not retried
    records = sink.records()
    assert len(records) == 13
    with_image = [r for r in records if r.fields.get("image_phash")]
    assert len(with_image) == 11  # item 1's image was missing


async def _never_ends() -> AsyncIterator[Fetched]:
    yield Fetched({"id": "first"})
    raise ConnectionResetError("feed went away")


def test_a_source_that_raises_is_counted_and_keeps_what_it_gave() -> None:
    class Flaky:
        name = "flaky"
        stats = FeedStats()

        def fetch(self) -> AsyncIterator[Fetched]:
            return _never_ends()

    sink = ListSink()
    stats = asyncio.run(run_sources([Flaky()], sink))
    assert stats["flaky"].failures == 1 and stats["flaky"].items == 1
    assert [r.record_id for r in sink.records()] == ["flaky:first"]
    assert json.loads(json.dumps(stats["flaky"].errors))  # one readable line
