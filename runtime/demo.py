"""``smartcustoms demo``: the runtime plus simulated devices streaming through the vendor gRPC path,
ending with a per-checkpoint table of frames, throughput and latency."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

import grpc
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sim.air_drivers import run_drivers
from smartcustoms.hardware.sim.devices import CLIENTS, DEVICES, Device, DeviceStats, Tape
from smartcustoms.runtime.air_queue_service import queue_line
from smartcustoms.runtime.conveyances import ConveyanceCounts, ConveyanceStore
from smartcustoms.runtime.crime_page import crime_line
from smartcustoms.runtime.demo_audit import audit_lines
from smartcustoms.runtime.devices import DeviceRegistry
from smartcustoms.runtime.enquiry import enquiry_line
from smartcustoms.runtime.evidence import configure_demo, demo_lines, enrol_demo_stock
from smartcustoms.runtime.ipr import ipr_line
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.officers_cli import demo_accounts
from smartcustoms.runtime.report import (
    Samples,
    checkpoint_rows,
    format_decisions,
    format_table,
    format_tail,
    merge,
    scrape,
    total,
)
from smartcustoms.runtime.screening import screening_line
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.tls import LocalSite, client_credentials
from smartcustoms.v1.conveyance_pb2 import ConveyanceDecision

DRAIN_TIMEOUT_S = 120.0
# The demo's devices send a conveyance's frames together: a short window keeps the demo short (a
# configured window_s that is shorter still is kept).
DEMO_WINDOW_S = 5.0
# The first X-ray lane's bags go before screeners, this share with a threat projected (docs/screening.md)
DEMO_SCREENED_LANE, DEMO_TIP_SHARE = "lane-0-xray", 0.2
XRAY_RATE_HZ = 0.5  # per lane: a bag every 2 s, a busy real lane (README: the demo's figures at other rates)


# The simulated devices of the demo: (kind in hardware.sim.devices.DEVICES or CLIENTS, rate per second,
# source id).
DEMO_DEVICES: tuple[tuple[str, float, str], ...] = (
    ("rfid", 10.0, "evidence-reader-1"),
    ("car_lane", 0.2, "portal-1-xray"),  # each car's portal scan and crossing record: one conveyance
    ("ct", 0.5, "lane-1-ct"),
    ("liquor", 2.0, "red-channel-camera"),
    ("warehouse", 5.0, "evidence-store"),  # 5 simulated seconds a second: alerts within a short demo
    ("declarations", 1.0, "cargo-feed"),
    ("crossings", 1.0, "crossing-feed"),
    ("air_drivers", 1.0, "air-cargo-drivers"),  # drivers and counter officers, over the QueueService
    ("enquirers", 0.5, "enquiry-robot-1"),  # questions to the enquiry assistant, over its gRPC service
    ("listings", 0.5, "listings-feed"),  # a simulated platform's listings API, polled by the feed connector
    ("cases", 2.0, "case-feed"),  # case records, news and posts of a simulated year, for crime analytics
)


# A device's credentials by its source id: a client certificate, or None on a plaintext gateway.
Credentials = Callable[[str], grpc.ChannelCredentials | None]


def plaintext_devices(_source: str) -> None:
    return None


def device_name(kind: str, source: str) -> str:
    """The identity a simulated device holds (its certificate's common name, its registry entry): its
    source id, except the feed connector's, which sends each feed it polls as ``feed-<feed>``
    (``hardware/feeds/runner.py``) and so is the device ``feed``."""
    return "feed" if kind == "listings" else source


def demo_devices(lanes: int) -> list[str]:
    """Every simulated device's name; each sends as its name or ``<name>-*``."""
    return [f"lane-{lane}-xray" for lane in range(lanes)] + [
        device_name(kind, source) for kind, _, source in DEMO_DEVICES
    ]


def secure_site(config: Config) -> tuple[Credentials, str]:
    """TLS on ingest and the review pages and mutual TLS for devices, from a local CA in
    ``<run_dir>/tls`` (kept between runs), unless the configuration names certificates of its own;
    return each device's credentials and a line saying what is on."""
    gateway = config.gateway
    if gateway.tls_cert:
        if not gateway.tls_client_ca and gateway.tls_ca:
            server_only = client_credentials(gateway.tls_ca)
            return (lambda _source: server_only), f"TLS from the configuration ({gateway.tls_cert})"
        raise SystemExit(
            "smartcustoms demo: the configured TLS needs tls_ca (and no tls_client_ca: the simulated devices "
            "have no certificates from that CA); leave the tls_* settings out and the demo makes its own CA"
        )
    hosts = [
        host for host in ("127.0.0.1", "localhost", gateway.host, gateway.review_bind) if host != "0.0.0.0"
    ]
    site = LocalSite.make(Path(config.run_dir) / "tls", hosts)
    site.apply(gateway)
    return site.device, f"TLS and mutual TLS on: local CA {site.ca.cert}, one certificate per device"


async def register_devices(config: Config, names: list[str]) -> None:
    """Register the demo's devices: with the registry on, only their sources are taken."""
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        registry = DeviceRegistry(client, config.namespace)
        for name in names:
            await registry.add(name, "simulated by smartcustoms demo")
    finally:
        await client.aclose()


async def drain_conveyances(
    config: Config, timeout_s: float, examples: int = 4
) -> tuple[ConveyanceCounts, list[ConveyanceDecision]]:
    """Wait until every conveyance opened has its first decision (or the deadline passes); return the
    counts and a few decisions, those joining the most frames first."""
    client = aioredis.Redis.from_url(config.redis.url)
    store = ConveyanceStore(client, config.namespace)
    deadline = time.monotonic() + timeout_s
    try:
        while (counts := await store.counts()).open and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        found = []
        async for key in client.scan_iter(match=store.key("decision", "*"), count=1000):
            found.append(await store.decision(key.decode().removeprefix(store.key("decision", ""))))
        decided = sorted((d for d in found if d is not None), key=lambda d: (-len(d.frame_ids), -d.outcome))
        return counts, decided[:examples]
    finally:
        await client.aclose()


async def drain(config: Config, timeout_s: float) -> Counts:
    """Wait until no accepted frame is still without a verdict (or the deadline passes)."""
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while (counts := await ledger.counts()).in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return counts
    finally:
        await client.aclose()


def settled_metrics(stack: Stack, timeout_s: float = 15.0) -> Samples:
    """The runtime's metrics once the sink has counted every verdict it stored in the ledger.

    The ledger settles first (the sink counts a verdict just after storing it, and renders an alert's
    preview in between), so a report read at once could miss the last batch.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        samples = merge(*(scrape(url) for url in stack.metrics_urls))
        stored = total(samples, "smartcustoms_sink_verdicts_total")
        if (
            stored >= total(samples, "smartcustoms_ingest_frames_accepted_total")
            or time.monotonic() > deadline
        ):
            return samples
        time.sleep(0.1)


def resident_memory(stack: Stack) -> dict[str, float]:
    """Resident memory of the gateway and the worker process, in bytes, from their /metrics."""
    gateway, worker = stack.metrics_urls
    return {
        role: total(scrape(url), "process_resident_memory_bytes")
        for role, url in (("gateway", gateway), ("worker", worker))
    }


async def run_devices(
    stack: Stack,
    duration_s: float,
    lanes: int,
    xray_rate_hz: float = XRAY_RATE_HZ,
    credentials: Credentials = plaintext_devices,
    officer_token: str = "",
) -> list[DeviceStats]:
    """Every demo device, plus ``lanes`` baggage X-ray lanes, streaming through the gateway, each with
    its own ``credentials(device name)``; the air cargo counters' officers with ``officer_token``.

    The scanners' and feeds' frames are rendered first (``Tape``) and then sent at their rates, so the
    simulators do not take the cores the runtime's latency is measured on."""
    target = stack.gateway_target
    # the air cargo counters' officers act under the demo account's session
    drivers = functools.partial(run_drivers, officer_token=officer_token)
    every: dict[str, Device] = {**DEVICES, **CLIENTS, "air_drivers": drivers}
    plan = [
        ("xray", xray_rate_hz, 1000 + lane, source) for lane, source in enumerate(demo_devices(lanes)[:lanes])
    ]
    plan += [(kind, rate_hz, 1, source) for kind, rate_hz, source in DEMO_DEVICES]

    def jobs(stop_at: float, kinds: Collection[str]) -> list[Awaitable[DeviceStats]]:
        return [
            every[kind](
                target, stop_at, rate_hz, seed, source, credentials=credentials(device_name(kind, source))
            )
            for kind, rate_hz, seed, source in plan
            if kind in kinds
        ]

    tape, rendering = Tape(), time.monotonic()
    with tape.record():
        await asyncio.gather(*jobs(time.monotonic() + duration_s, DEVICES))
    print(
        f"devices: {tape.frames} frames ({tape.nbytes / 2**20:.0f} MiB) rendered ahead in "
        f"{time.monotonic() - rendering:.1f} s, then sent at the devices' rates"
    )
    with tape.play():
        return list(await asyncio.gather(*jobs(time.monotonic() + duration_s, every)))


def demo(
    config: Config,
    duration_s: float,
    lanes: int = 2,
    xray_rate_hz: float = XRAY_RATE_HZ,
    *,
    plaintext: bool = False,
) -> int:
    """Run the demo; return 0 when every accepted frame got a verdict or a fallback and every
    conveyance opened got its decision. Unless ``plaintext``, the gateway runs with TLS, mutual TLS for
    the devices and the device registry on, and officers log in (``docs/security.md``)."""
    config.fusion.window_s = min(config.fusion.window_s, DEMO_WINDOW_S)
    config.audit.anchor_interval_s = min(config.audit.anchor_interval_s, 5.0)
    configure_demo(config)  # the evidence locator on the demo warehouse's readers
    config.screening.lanes = config.screening.lanes or {DEMO_SCREENED_LANE: DEMO_TIP_SHARE}
    credentials: Credentials = plaintext_devices
    security = "plaintext (--plaintext): no TLS, no device registry"
    if not plaintext:
        credentials, security = secure_site(config)
        config.gateway.device_registry = True
    stack = Stack(config).start(worker=False)
    try:
        if config.gateway.device_registry:  # registered while the worker starts: in force before frames
            asyncio.run(register_devices(config, demo_devices(lanes)))
            security += f"; device registry on, {len(demo_devices(lanes))} devices registered"
        stack.start_worker()
        enrol_demo_stock(config, seed=1)  # the warehouse device's seed (run_devices)
        print(
            f"runtime up: gateway {stack.gateway_target}, alert review {stack.review_url}, "
            f"metrics {', '.join(stack.metrics_urls)}"
        )
        print(f"security: {security}")
        login = demo_accounts(config)  # officers log in to the review pages (docs/security.md)
        print(login.lines)
        started = time.monotonic()
        stats = asyncio.run(run_devices(stack, duration_s, lanes, xray_rate_hz, credentials, login.token))
        counts = asyncio.run(drain(config, DRAIN_TIMEOUT_S))
        elapsed = time.monotonic() - started
        conveyances, examples = asyncio.run(drain_conveyances(config, config.fusion.window_s + 15))
        samples = settled_metrics(stack)
        memory = resident_memory(stack)
        audit = audit_lines(config)
        evidence = demo_lines(config)
        enquiries = enquiry_line(config.redis.url, config.namespace)
        ipr = ipr_line(config.redis.url, config.namespace)
        crime = crime_line(config.redis.url, config.namespace)
        air_queue = queue_line(config.redis.url, config.namespace)
        screening = screening_line(config, stack.review_url.rstrip("/") + "/screening")
    finally:
        stack.stop()
    print_summary(stats, counts, samples, elapsed)
    print(conveyance_line(conveyances, config.fusion.window_s))
    for decision in examples:
        print(f"  e.g. {decision.summary}  [{', '.join(decision.frame_ids)}]")
    print("\n".join(audit))
    print("\n".join(evidence))
    print(enquiries)
    print(ipr)
    print(crime)
    print(air_queue)
    print(screening)
    print(
        "resident memory: "
        + ", ".join(f"{role} {rss / 2**20:.0f} MiB" for role, rss in memory.items())
        + " (plugins that process frames live in Ray actors, not in the worker)"
    )
    frames_ok = counts.in_flight == 0 and counts.imbalance == 0
    return 0 if frames_ok and conveyances.open == 0 and conveyances.imbalance == 0 else 1


def conveyance_line(counts: ConveyanceCounts, window_s: float) -> str:
    """The conservation law per conveyance, with the first decisions by outcome."""
    decided = sum(counts.decided.values())
    outcomes = ", ".join(f"{outcome} {n}" for outcome, n in counts.decided.items())
    return (
        f"conveyances: opened {counts.opened} = decided {decided} ({outcomes}) + timed out "
        f"{counts.timed_out} + open {counts.open}  (imbalance {counts.imbalance}; late frames "
        f"{counts.reopened}; window {window_s:g} s)"
    )


def print_summary(
    stats: list[DeviceStats],
    counts: Counts,
    samples: dict[str, list[tuple[dict[str, str], float]]],
    elapsed_s: float,
) -> None:
    print()
    for device in stats:
        print(
            f"{device.name:<20} sent {device.sent:>6}  accepted {device.accepted:>6}  "
            f"(duplicates {device.duplicates})  rejected {device.rejected:>4}"
            + (f"  (first: {device.first_rejection})" if device.rejected else "")
        )
    print()
    print(format_table(checkpoint_rows(samples, elapsed_s)))
    print()
    print(format_tail(samples))
    print()
    print(format_decisions(samples))
    print()
    print(
        f"conservation: accepted {counts.accepted} = verdicts {counts.verdicts} + fallbacks "
        f"{counts.fallbacks} + in flight {counts.in_flight}  (imbalance {counts.imbalance})"
    )
