"""The demo's "listings feed" device: a simulated platform's JSON listings API, polled by the feed
connector, whose records go to the gateway.

``run_listings`` serves a growing market of simulated listings (``ListingSimulator``) on a local port:
``GET /listings?cursor=C&limit=N`` pages and ``GET /images/<id>.jpg``, ``batch_size`` new listings
every ``1 / rate_hz`` seconds, and a 429 with ``Retry-After: 0`` on every seventh page request, so
the demo exercises the connector's rate-limit path. Each poll (``ListingsApiSource``, the resume point
kept between polls) sends the new listings as one record frame. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import grpc
from aiohttp import web

from smartcustoms.hardware.sdk.client import IngestStream
from smartcustoms.v1 import frame_pb2, ingest_pb2

if TYPE_CHECKING:  # devices imports this module: its names come in when the device runs
    from smartcustoms.hardware.sim.devices import DeviceStats
    from smartcustoms.hardware.sim.listings import Listing

__all__ = ["ListingsMarket", "run_listings"]


class ListingsMarket:
    """The platform: listings appear ``batch_size`` at a time as ``grow`` is called."""

    def __init__(self, seed: int) -> None:
        from smartcustoms.hardware.sim.listings import ListingSimulator

        self.simulator = ListingSimulator(seed)
        self.stream = self.simulator.listings(10**9)
        self.listings: list[Listing] = []
        self.by_id: dict[str, Listing] = {}
        self.requests = 0

    def grow(self, count: int) -> None:
        for _ in range(count):
            listing = next(self.stream)
            self.listings.append(listing)
            self.by_id[listing.listing_id] = listing

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/listings", self._page)
        app.router.add_get("/images/{listing_id}.jpg", self._image)
        return app

    async def _page(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.requests % 7 == 0:
            return web.Response(status=429, headers={"Retry-After": "0"})
        start = int(request.query.get("cursor") or 0)
        limit = int(request.query.get("limit") or 50)
        chunk = self.listings[start : start + limit]
        end = start + len(chunk)
        return web.json_response({"items": [x.item() for x in chunk], "next": str(end) if chunk else None})

    async def _image(self, request: web.Request) -> web.Response:
        listing = self.by_id.get(request.match_info["listing_id"])
        if listing is None:
            return web.Response(status=404)
        return web.Response(body=listing.image, content_type="image/jpeg")


class _CountingSink:
    """The device's ingest stream, with each frame's ack tallied."""

    def __init__(self, ingest: IngestStream, stats: DeviceStats) -> None:
        self.ingest = ingest
        self.stats = stats
        self.pending: list[asyncio.Future[ingest_pb2.IngestAck]] = []

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        future = await self.ingest.send(frame, payload)
        future.add_done_callback(self.stats.count)
        self.pending.append(future)
        self.stats.sent += 1
        return future


async def run_listings(
    target: str,
    stop_at: float,
    rate_hz: float = 0.5,
    seed: int = 0,
    source_id: str = "listings-feed",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    batch_size: int = 20,
) -> DeviceStats:
    """Serve a simulated platform and poll it into the gateway until ``stop_at``."""
    from smartcustoms.hardware.feeds.runner import pump
    from smartcustoms.hardware.feeds.sources import ListingsApiSource, MemoryResumePoints
    from smartcustoms.hardware.sim.devices import DeviceStats, first_sequence

    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    market = ListingsMarket(seed)
    runner = web.AppRunner(market.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started TCP site
    stats, base, resume = DeviceStats(source_id), first_sequence(), MemoryResumePoints()
    started, step = time.monotonic(), 0
    try:
        async with IngestStream(target, credentials=credentials) as ingest:
            sink = _CountingSink(ingest, stats)
            while time.monotonic() < stop_at and (max_frames is None or stats.sent < max_frames):
                await asyncio.to_thread(market.grow, batch_size)
                source = ListingsApiSource(
                    f"http://127.0.0.1:{port}/listings",
                    resume,
                    source_id,
                    page_size=batch_size,
                    timeout_s=5.0,
                )
                await pump(source, sink, batch_size=batch_size, sequence=base + stats.sent)
                step += 1
                await asyncio.sleep(max(0.0, started + step / rate_hz - time.monotonic()))
            await asyncio.gather(*sink.pending, return_exceptions=True)
    finally:
        await runner.cleanup()
    return stats
