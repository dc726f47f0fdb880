"""The gateway process: gRPC server, publisher, reconciler and /metrics, with a bounded stop."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import platform
import signal
import ssl
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web
from grpc_health.v1 import health, health_pb2
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from redis.exceptions import RedisError

from smartcustoms.core.audit import AsyncAuditTrail
from smartcustoms.core.blobstore import open_blob_store
from smartcustoms.core.config import Config
from smartcustoms.core.keys import readiness_key
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.admission import Backlog
from smartcustoms.runtime.air_queue import QueueDesk
from smartcustoms.runtime.air_queue_page import add_routes as add_air_queue_routes
from smartcustoms.runtime.air_queue_service import AirQueueHost
from smartcustoms.runtime.auditor import AnchorFile, AuditCollector, Auditor
from smartcustoms.runtime.collectors import RedisCollectors
from smartcustoms.runtime.conveyances import ConveyanceCollector
from smartcustoms.runtime.crime_page import CrimeCollector, add_crime_routes, crime_desk
from smartcustoms.runtime.devices import DeviceRegistry, RegistryCache
from smartcustoms.runtime.enquiry import EnquiryCollector, EnquiryDesk, add_enquiry_service
from smartcustoms.runtime.enquiry_page import add_routes as add_enquiry_routes
from smartcustoms.runtime.evidence import EvidenceCollector, evidence_desk
from smartcustoms.runtime.evidence_page import add_routes as add_evidence_routes
from smartcustoms.runtime.gateway import SERVICE_NAME, GatewayCore, build_server
from smartcustoms.runtime.ipr import IprCollector
from smartcustoms.runtime.ledger import ConservationCollector, adjudication_collectors, ledger_for
from smartcustoms.runtime.liquor_desk import LiquorDesk, OverrideCollector
from smartcustoms.runtime.liquor_page import add_routes as add_liquor_routes
from smartcustoms.runtime.officer_auth import guard as guard_officer_pages
from smartcustoms.runtime.process import freeze_start_up_heap
from smartcustoms.runtime.publisher import Publisher
from smartcustoms.runtime.readiness import pipeline_ready
from smartcustoms.runtime.reconciler import Reconciler
from smartcustoms.runtime.review import ReviewDesk, review_desk, web_app
from smartcustoms.runtime.screening import ScreeningCollector, ScreeningDesk, add_screening_routes
from smartcustoms.runtime.search import SearchDesk, search_desk
from smartcustoms.runtime.search_page import add_routes as add_search_routes
from smartcustoms.runtime.supervisor import RestartCollector
from smartcustoms.runtime.tls import server_credentials
from smartcustoms.runtime.watchlist_page import add_routes as add_watchlist_routes

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.25
BROKER_CHECK_S = 2.0
CLEANUP_S = 6.0  # after the gRPC server has drained: the supervisor allows stop_grace_s + 10 s in all
# glibc's malloc under 1-2 MiB chunks arriving on gRPC's threads: each thread arena kept the freed
# chunks (the mmap threshold rises to the largest block freed), and the gateway grew by ~100 MiB under
# overload and stayed there. Two arenas, chunks of 256 KiB and more mapped and unmapped on their own,
# and freed pages handed back every second keep it near its working set (benchmarks/test_bench_overload.py).
MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD_BYTES = 256 * 1024
MALLOC_TRIM_INTERVAL_S = 1.0
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt parameters, from glibc's malloc.h


async def serve(config: Config, stop: asyncio.Event, trim: Callable[[], object] | None = None) -> None:
    """Run until ``stop`` is set, then drain within ``gateway.stop_grace_s``; ``trim`` (from
    ``tame_malloc``) hands freed memory back every MALLOC_TRIM_INTERVAL_S."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, CPU seconds, open fds
    sensor = Sensor(Metrics(registry))
    redis_metrics = RedisCollectors()  # read at scrape time; a Redis outage leaves out only these
    registry.register(redis_metrics)
    redis_metrics.add("conservation", ConservationCollector(config.redis.url, config.namespace))
    redis_metrics.add("conveyances", ConveyanceCollector(config.redis.url, config.namespace))
    for name, collector in zip(
        ("adjudications", "shadow_adjudications", "record_adjudications"),
        adjudication_collectors(config.redis.url, config.namespace),
        strict=True,
    ):
        redis_metrics.add(name, collector)
    redis_metrics.add("liquor_overrides", OverrideCollector(config.redis.url, config.namespace))
    redis_metrics.add("evidence", EvidenceCollector(config.redis.url, config.namespace))
    redis_metrics.add("enquiries", EnquiryCollector(config.redis.url, config.namespace))
    auditor = Auditor(
        AsyncAuditTrail(aioredis.Redis.from_url(config.redis.url), config.namespace),
        AnchorFile(config.audit.anchors_at(config.run_dir)),
        seal_interval_s=config.audit.seal_interval_s,
        anchor_interval_s=config.audit.anchor_interval_s,
    )
    redis_metrics.add("audit", AuditCollector(config.redis.url, config.namespace, auditor))
    redis_metrics.add("restarts", RestartCollector(config.redis.url, config.namespace))
    redis_metrics.add("ipr", IprCollector(config.redis.url, config.namespace))
    redis_metrics.add("crime", CrimeCollector(config.redis.url, config.namespace))
    redis_metrics.add("screening", ScreeningCollector(config.redis.url, config.namespace))
    metrics_server, metrics_thread = start_http_server(
        config.gateway.metrics_port, config.gateway.metrics_bind, registry=registry
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
    search = search_desk(config.redis.url, config.namespace, client)
    air_queue = AirQueueHost(config, client, ledger, publisher, registry)  # tickets, counters, queue events
    health_servicer = health.aio.HealthServicer()
    limits = config.gateway  # push-back (runtime/admission.py)
    backlog = Backlog(
        ledger,
        limits.max_backlog_frames,
        limits.max_backlog_frames_per_source,
        limit_bytes=limits.max_backlog_bytes,
        limit_bytes_per_source=limits.max_backlog_bytes_per_source,
    )
    sensor.backlog_watched(lambda: backlog.estimate, lambda: backlog.estimate_bytes)
    devices = None  # only registered devices may send (runtime/devices.py)
    if config.gateway.device_registry:
        devices = RegistryCache(DeviceRegistry(client, config.namespace))
        with contextlib.suppress(RedisError):  # else its refresh task reads it once Redis answers
            await devices.refresh()
    core = GatewayCore(config, store, ledger, publisher, sensor, backlog, devices)
    server = build_server(core, health_servicer, search)
    enquiry = add_enquiry_service(server, core)
    air_queue.add_to_server(server)
    gateway = config.gateway
    address = f"{gateway.host}:{gateway.port}"
    if gateway.tls_cert:
        server.add_secure_port(
            address, server_credentials(gateway.tls_cert, gateway.tls_key, gateway.tls_client_ca)
        )
    else:
        server.add_insecure_port(address)
    if gateway.enquiry_warm_up:  # before serving: its set-up holds the GIL for ~1 s, a stall for any caller
        await _warm_up(enquiry)
    await server.start()
    review_site = await _serve_review(config, review_desk(core), search, enquiry)
    await air_queue.start()
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    reconciler = asyncio.create_task(Reconciler(ledger, publisher, config.reconciler, sensor).run())
    watcher = asyncio.create_task(watch_pipeline(client, config.namespace, health_servicer, publisher))
    auditing = asyncio.create_task(auditor.run())
    watching_backlog = asyncio.create_task(backlog.run())
    watching_devices = asyncio.create_task(devices.run()) if devices is not None else None
    trimming = asyncio.create_task(trim_memory(trim))
    freeze_start_up_heap()
    log.warning("gateway serving on %s:%d", config.gateway.host, config.gateway.port)
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(config.gateway.stop_grace_s)
        # The rest within CLEANUP_S in all, each step named in the log if it runs out of time, so the
        # gateway ends before its supervisor's deadline whatever one of its clients is waiting for.
        deadline = time.monotonic() + CLEANUP_S
        await _within("review pages", review_site.cleanup(), deadline)
        await _within("frames being recorded and published", core.settle(), deadline)
        reconciler.cancel()
        watcher.cancel()
        watching_backlog.cancel()
        trimming.cancel()
        if watching_devices is not None:
            watching_devices.cancel()
        tasks = asyncio.gather(reconciler, watcher, watching_backlog, trimming, return_exceptions=True)
        await _within("background tasks", tasks, deadline)
        auditing.cancel()  # after the reconciler's last fallbacks: it seals them and anchors the head
        await _within("auditor", asyncio.gather(auditing, return_exceptions=True), deadline)
        await _within("audit trail's Redis client", auditor.trail.client.aclose(), deadline)
        await _within("air cargo queue", air_queue.stop(), deadline)  # its last events, then the producer
        await _within("Kafka producer", publisher.stop(), deadline)
        await _within("Redis client", client.aclose(), deadline)
        search.close_state()
        store.close()
        metrics_server.shutdown()
        metrics_thread.join(timeout=2)


async def _within(step: str, awaitable: Awaitable[object], deadline: float) -> None:
    """Await one step of the gateway's shutdown until ``deadline`` (monotonic); past it, log the step
    and go on (the step is cancelled)."""
    try:
        await asyncio.wait_for(awaitable, max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        log.warning("shutdown: %s did not finish in time; going on without it", step)
    except Exception:
        log.exception("shutdown: %s failed; going on without it", step)


async def _warm_up(enquiry: EnquiryDesk) -> None:
    try:
        await enquiry.warm_up()
    except Exception:  # the desk builds it again on the first question
        log.exception("the enquiry assistant could not be built at start-up")


async def watch_pipeline(
    client: aioredis.Redis,
    namespace: str,
    health_servicer: health.aio.HealthServicer,
    publisher: Publisher,
) -> None:
    """Keep the overall health ("") at SERVING only while frames can make progress: the stream workers
    report every plugin pool warm (a dead worker's report goes stale within seconds), the ledger's Redis
    answers and the broker answers. A load balancer or vendor asking for "" sees NOT_SERVING instead of
    acks into a void; the ingest service stays SERVING throughout (accepted frames are durable and wait)."""
    serving: bool | None = None
    broker_ok, broker_checked = True, -BROKER_CHECK_S
    while True:
        try:
            ready, why = pipeline_ready(await client.hgetall(readiness_key(namespace)), time.time())
        except RedisError as error:
            ready, why = False, f"Redis unreachable: {error}"
        if time.monotonic() - broker_checked >= BROKER_CHECK_S:
            broker_ok, broker_checked = await publisher.reachable(), time.monotonic()
        if ready and not broker_ok:
            ready, why = False, "the broker does not answer"
        if ready is not serving:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if ready
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            await health_servicer.set("", status)
            log.warning("pipeline %s%s", "ready" if ready else "not ready: ", why)
            serving = ready
        await asyncio.sleep(WATCH_INTERVAL_S)


def tame_malloc() -> Callable[[], object] | None:
    """On glibc, bound the arenas and map large blocks on their own (see MALLOC_ARENAS); returns
    ``malloc_trim(0)`` to hand freed pages back, or None elsewhere (musl, macOS) where none of it applies."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)  # also stops the threshold rising
    return lambda: libc.malloc_trim(0)


async def trim_memory(trim: Callable[[], object] | None, interval_s: float = MALLOC_TRIM_INTERVAL_S) -> None:
    """Hand freed heap pages back to the system every ``interval_s``, off the event loop, until cancelled."""
    if trim is None:
        return
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(trim)


async def _serve_review(
    config: Config, desk: ReviewDesk, search: SearchDesk, enquiry: EnquiryDesk | None = None
) -> web.AppRunner:
    """The officers' alert review page and, beside it, the vehicle search reports and watchlist and the
    liquor duty desk, on ``gateway.review_port``."""
    ledger = desk.ledger
    app = web_app(desk)
    add_search_routes(app, search, ledger)
    add_watchlist_routes(app, search.risk_state, config.namespace)  # the same vehicle_risk state
    add_enquiry_routes(app, enquiry)
    add_evidence_routes(app, evidence_desk(config.redis.url, config.namespace))
    add_liquor_routes(app, LiquorDesk(ledger.client, config.namespace, ledger), ledger)
    add_air_queue_routes(app, QueueDesk(ledger.client, config.namespace))
    add_crime_routes(app, crime_desk(config.redis.url, config.namespace))
    add_screening_routes(app, ScreeningDesk(ledger.client, config.namespace, config.screening))
    await guard_officer_pages(app, config, ledger.client)  # officers log in (runtime/officer_auth.py)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = None
    if config.gateway.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(config.gateway.tls_cert, config.gateway.tls_key)
    await web.TCPSite(runner, config.gateway.review_bind, config.gateway.review_port, ssl_context=tls).start()
    return runner


def main(config: Config) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s gateway %(levelname)s %(message)s")
    trim = tame_malloc()  # before gRPC starts its threads and their arenas

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop, trim)

    asyncio.run(run())
