"""The gateway process: gRPC server, publisher, reconciler and /metrics, with a bounded stop."""

from __future__ import annotations

import asyncio
import logging
import signal

import redis.asyncio as aioredis
from aiohttp import web
from grpc_health.v1 import health, health_pb2
from prometheus_client import CollectorRegistry, start_http_server

from smartcustoms.core.blobstore import open_blob_store
from smartcustoms.core.config import Config
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.gateway import SERVICE_NAME, GatewayCore, build_server
from smartcustoms.runtime.ledger import AdjudicationCollector, ConservationCollector, Ledger
from smartcustoms.runtime.publisher import Publisher
from smartcustoms.runtime.reconciler import Reconciler
from smartcustoms.runtime.review import ReviewDesk, web_app

log = logging.getLogger(__name__)


def ledger_for(config: Config, client: aioredis.Redis) -> Ledger:
    return Ledger(
        client,
        config.namespace,
        verdict_ttl_s=config.redis.verdict_ttl_s,
        dedupe_ttl_s=config.redis.dedupe_ttl_s,
        alerts_kept=config.redis.alerts_kept,
    )


async def serve(config: Config, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set, then drain within ``gateway.stop_grace_s``."""
    registry = CollectorRegistry()
    sensor = Sensor(Metrics(registry))
    registry.register(ConservationCollector(config.redis.url, config.namespace))
    registry.register(AdjudicationCollector(config.redis.url, config.namespace))
    metrics_server, metrics_thread = start_http_server(
        config.gateway.metrics_port, config.gateway.host, registry=registry
    )
    client = aioredis.Redis.from_url(config.redis.url)
    store = open_blob_store(
        config.blobstore.kind,
        namespace=config.namespace,
        shm_root=config.blobstore.shm_root,
        redis_url=config.redis.url,
        capacity_bytes=config.blobstore.capacity_bytes,
    )
    publisher = Publisher(config)
    await publisher.start()
    ledger = ledger_for(config, client)
    health_servicer = health.aio.HealthServicer()
    server = build_server(GatewayCore(config, store, ledger, publisher, sensor), health_servicer)
    server.add_insecure_port(f"{config.gateway.host}:{config.gateway.port}")
    await server.start()
    review_site = await _serve_review(config, ledger)
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reconciler = asyncio.create_task(Reconciler(ledger, publisher, config.reconciler, sensor).run())
    log.warning("gateway serving on %s:%d", config.gateway.host, config.gateway.port)
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(config.gateway.stop_grace_s)
        await review_site.cleanup()
        reconciler.cancel()
        await asyncio.gather(reconciler, return_exceptions=True)
        await publisher.stop()
        await client.aclose()
        store.close()
        metrics_server.shutdown()
        metrics_thread.join(timeout=2)


async def _serve_review(config: Config, ledger: Ledger) -> web.AppRunner:
    """The officers' alert review page, on ``gateway.review_port``."""
    runner = web.AppRunner(web_app(ReviewDesk(ledger)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.gateway.host, config.gateway.review_port).start()
    return runner


def main(config: Config) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s gateway %(levelname)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    asyncio.run(run())
