"""``smartcustoms demo``: the runtime plus simulated devices streaming through the vendor gRPC path,
ending with a per-checkpoint table of frames, throughput and latency."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.client import OK, IngestStream
from smartcustoms.hardware.sim import rfid, xray
from smartcustoms.runtime.gateway_process import ledger_for
from smartcustoms.runtime.ledger import Counts
from smartcustoms.runtime.report import checkpoint_rows, format_table, merge, scrape
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

DRAIN_TIMEOUT_S = 120.0


@dataclass
class DeviceStats:
    name: str
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0


async def xray_lane(
    target: str, lane: int, stop_at: float, interval_s: float, stats: DeviceStats, height: int, width: int
) -> None:
    """A baggage X-ray lane: one dual-energy image every ``interval_s``."""
    simulator = xray.XraySimulator(seed=1000 + lane, height=height, width=width)
    source = f"lane-{lane}-xray"
    first_sequence = time.time_ns() // 1000  # sequences keep rising across runs, as a device's do
    async with IngestStream(target) as stream:
        futures = []
        index = 0
        while time.monotonic() < stop_at:
            scan = simulator.generate(index)
            frame = xray.to_frame(
                scan, source_id=source, sequence=first_sequence + index, conveyance_id=f"bag-{lane}-{index}"
            )
            futures.append(await stream.send(frame))
            stats.sent += 1
            index += 1
            await asyncio.sleep(interval_s)
        _count(stats, [await f for f in futures])


async def rfid_reader(target: str, stop_at: float, interval_s: float, stats: DeviceStats) -> None:
    """An evidence-store RFID reader: one batched report of tag reads every ``interval_s``."""
    simulator = rfid.RfidSimulator(seed=7)
    first_sequence = time.time_ns() // 1000
    async with IngestStream(target) as stream:
        futures = []
        index = 0
        while time.monotonic() < stop_at:
            frame = rfid.to_frame(
                simulator.report(index), source_id="store-1-reader", sequence=first_sequence + index
            )
            futures.append(await stream.send(frame))
            stats.sent += 1
            index += 1
            await asyncio.sleep(interval_s)
        _count(stats, [await f for f in futures])


def _count(stats: DeviceStats, acks: list[object]) -> None:
    for ack in acks:
        if getattr(ack, "code", None) == OK:
            stats.accepted += 1
            stats.duplicates += int(getattr(ack, "duplicate", False))
        else:
            stats.rejected += 1


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


async def run_devices(
    stack: Stack,
    duration_s: float,
    lanes: int,
    xray_interval_s: float,
    rfid_interval_s: float,
    image_shape: tuple[int, int],
) -> list[DeviceStats]:
    stop_at = time.monotonic() + duration_s
    stats = [DeviceStats(f"xray lane {lane}") for lane in range(lanes)] + [DeviceStats("rfid reader")]
    jobs = [
        xray_lane(stack.gateway_target, lane, stop_at, xray_interval_s, stats[lane], *image_shape)
        for lane in range(lanes)
    ]
    jobs.append(rfid_reader(stack.gateway_target, stop_at, rfid_interval_s, stats[-1]))
    await asyncio.gather(*jobs)
    return stats


def demo(
    config: Config,
    duration_s: float,
    lanes: int = 2,
    xray_interval_s: float = 0.5,
    rfid_interval_s: float = 0.1,
    image_shape: tuple[int, int] = (1024, 2048),
) -> int:
    """Run the demo; return 0 when every accepted frame got a verdict or a fallback."""
    with Stack(config) as stack:
        print(
            f"runtime up: gateway {stack.gateway_target}, alert review {stack.review_url}, "
            f"metrics {', '.join(stack.metrics_urls)}"
        )
        started = time.monotonic()
        stats = asyncio.run(
            run_devices(stack, duration_s, lanes, xray_interval_s, rfid_interval_s, image_shape)
        )
        counts = asyncio.run(drain(config, DRAIN_TIMEOUT_S))
        elapsed = time.monotonic() - started
        samples = merge(*(scrape(url) for url in stack.metrics_urls))
    print_summary(stats, counts, samples, elapsed)
    return 0 if counts.in_flight == 0 and counts.imbalance == 0 else 1


def print_summary(
    stats: list[DeviceStats],
    counts: Counts,
    samples: dict[str, list[tuple[dict[str, str], float]]],
    elapsed_s: float,
) -> None:
    print()
    for device in stats:
        print(
            f"{device.name:<14} sent {device.sent:>6}  accepted {device.accepted:>6}  "
            f"(duplicates {device.duplicates})  rejected {device.rejected:>4}"
        )
    print()
    print(format_table(checkpoint_rows(samples, elapsed_s)))
    print()
    print(
        f"conservation: accepted {counts.accepted} = verdicts {counts.verdicts} + fallbacks "
        f"{counts.fallbacks} + in flight {counts.in_flight}  (imbalance {counts.imbalance})"
    )


__all__ = ["demo", "frame_pb2"]
