"""Every simulated device streams its frames through a real gateway, each one acknowledged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.client import OK
from smartcustoms.hardware.sim import devices
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import fake_gateway
from smartcustoms.v1 import ingest_pb2

FRAMES_PER_DEVICE = 3
SMALL: dict[str, dict[str, Any]] = {
    "xray": {"height": 128, "width": 256},
    "vehicle": {"height": 128, "width": 384},
    "car_lane": {"height": 128, "width": 384},
    "ct": {"shape": (32, 16, 24)},
    "liquor": {"height": 96, "width": 128},
    "warehouse": {"horizon_ticks": 600},
}


async def run_every_device(target: str) -> list[devices.DeviceStats]:
    stop_at = time.monotonic() + 60
    runs = [
        device(target, stop_at, 50.0, 1, f"sim-{kind}", max_frames=FRAMES_PER_DEVICE, **SMALL.get(kind, {}))
        for kind, device in devices.DEVICES.items()
    ]
    return list(await asyncio.gather(*runs))


async def accepted_in_ledger(config: Config) -> int:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        return (await ledger_for(config, client).counts()).accepted
    finally:
        await client.aclose()


def test_stats_count_acks_and_failures() -> None:
    stats = devices.DeviceStats("x")

    async def tally() -> None:
        loop = asyncio.get_running_loop()
        ok, refused, broken = loop.create_future(), loop.create_future(), loop.create_future()
        ok.set_result(ingest_pb2.IngestAck(code=OK, duplicate=True))
        refused.set_result(ingest_pb2.IngestAck(code=3))
        broken.set_exception(RuntimeError("stream failed"))
        for future in (ok, refused, broken):
            stats.count(future)

    asyncio.run(tally())
    assert (stats.accepted, stats.duplicates, stats.rejected) == (1, 1, 2)


@pytest.mark.integration
def test_every_device_streams_to_the_gateway(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    stack = start_stack(runtime_config, worker=False)
    results = asyncio.run(run_every_device(stack.gateway_target))
    assert [s.name for s in results] == [f"sim-{kind}" for kind in devices.DEVICES]
    for stats in results:
        assert (stats.sent, stats.accepted, stats.rejected) == (FRAMES_PER_DEVICE,) * 2 + (0,), stats
    assert asyncio.run(accepted_in_ledger(runtime_config)) == FRAMES_PER_DEVICE * len(devices.DEVICES)


@pytest.mark.integration
def test_a_device_keeps_its_rate_until_stop_at(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    stack = start_stack(runtime_config, worker=False)
    started = time.monotonic()
    stats = asyncio.run(devices.run_crossings(stack.gateway_target, started + 1.0, 10.0, 2, "lmc-crossings"))
    assert 5 <= stats.sent <= 11 and stats.accepted == stats.sent  # 10 a second, less the stream's start
    assert time.monotonic() - started < 5


def test_a_car_lane_names_one_conveyance_in_the_crossing_record_and_the_portal_scan() -> None:
    from smartcustoms.hardware.sim.records import CROSSING_KIND, CrossingSimulator
    from smartcustoms.hardware.sim.vehicle import VehicleSimulator
    from smartcustoms.v1 import frame_pb2

    record, scan = devices.car_lane_frames(
        CrossingSimulator(3), VehicleSimulator(3, 128, 384), 5, 1005, "lane-9"
    )
    (crossing,) = frame_pb2.RecordBatch.FromString(record.payload).records
    assert crossing.kind == CROSSING_KIND
    assert record.conveyance_id == scan.conveyance_id == f"{crossing.fields['plate_hk']}-1005"
    assert (record.modality, record.source_id, record.sequence) == (
        frame_pb2.MODALITY_RECORD,
        "lane-9-crossings",
        1005,
    )
    assert (scan.modality, scan.source_id, scan.sequence) == (frame_pb2.MODALITY_XRAY, "lane-9", 1005)
    assert scan.metadata["vehicle_model"] == crossing.fields["portal_model"]  # it looks like the car


def test_bags_of_different_lanes_and_runs_are_different_conveyances() -> None:
    assert devices.bag_tag("lane-0-xray", 1000, 3) != devices.bag_tag("lane-1-xray", 1000, 3)
    assert devices.bag_tag("lane-0-xray", 1000, 3) != devices.bag_tag("lane-0-xray", 2000, 3)


def test_a_recorded_device_sends_nothing_then_plays_its_frames_stamped_as_sent() -> None:
    """The demo's tape: recording renders the run's frames without connecting; playing sends exactly
    those frames (same ids and sequences, in order) at the device's rate, each captured when sent."""
    tape = devices.Tape(independent_phases=False)
    with fake_gateway() as (target, gateway):

        async def record() -> devices.DeviceStats:
            with tape.record():
                return await devices.run_xray(
                    target, time.monotonic() + 0.25, 20.0, 7, "lane-9-xray", height=64, width=128
                )

        recorded = asyncio.run(record())
        assert (recorded.sent, gateway.frames) == (0, [])
        steps = tape.recordings["lane-9-xray"].steps
        assert len(steps) == 5 == tape.frames  # 0.25 s at 20 steps a second, one scan a step
        expected = [(frame.frame_id, frame.sequence) for step in steps for frame in step]
        assert tape.nbytes > 5 * 64 * 128 * 2  # two energies of uint16

        async def play() -> devices.DeviceStats:
            with tape.play():
                return await devices.run_xray(
                    target, time.monotonic() + 0.25, 20.0, 7, "lane-9-xray", height=64, width=128
                )

        played_from_s = time.time()
        stats = asyncio.run(play())
    assert (stats.sent, stats.accepted) == (5, 5)
    assert [(frame.frame_id, frame.sequence) for frame in gateway.frames] == expected
    captured_s = [frame.capture_time.ToNanoseconds() / 1e9 for frame in gateway.frames]
    assert all(played_from_s <= c <= r for c, r in zip(captured_s, gateway.received_s, strict=True))
    assert "lane-9-xray" not in tape.recordings  # played once: its frames are not kept


def test_a_tape_keeps_at_most_its_bound_and_the_device_renders_the_rest_live() -> None:
    tape = devices.Tape(max_bytes_per_device=1, independent_phases=False)  # one step, then the bound
    with fake_gateway() as (target, gateway):

        async def run() -> devices.DeviceStats:
            with tape.record():
                await devices.run_xray(
                    target, time.monotonic() + 0.2, 20.0, 3, "lane-8-xray", height=64, width=128
                )
            recorded_id = tape.recordings["lane-8-xray"].steps[0][0].frame_id
            with tape.play():
                stats = await devices.run_xray(
                    target, time.monotonic() + 0.2, 20.0, 3, "lane-8-xray", height=64, width=128
                )
            assert gateway.frames[0].frame_id == recorded_id
            return stats

        stats = asyncio.run(run())
    assert stats.sent == stats.accepted == len(gateway.frames) == 4
    sequences = [frame.sequence for frame in gateway.frames]
    assert sequences == list(range(sequences[0], sequences[0] + 4))  # live frames continue the tape's


def test_devices_on_a_tape_start_at_phases_of_their_own() -> None:
    """Devices that start together do not send in the same millisecond: each waits its own fraction of
    its period, the same in every run, so two lanes at one rate do not send their bags together."""
    tape = devices.Tape()
    offsets = [tape.start_offset_s(f"lane-{lane}-xray", 0.5) for lane in range(4)]
    assert all(0.0 <= offset < 2.0 for offset in offsets)
    assert len({round(offset, 3) for offset in offsets}) == 4
    assert offsets == [devices.Tape().start_offset_s(f"lane-{lane}-xray", 0.5) for lane in range(4)]
    assert devices.Tape(independent_phases=False).start_offset_s("lane-0-xray", 0.5) == 0.0

    name, rate_hz = "lane-1-xray", 5.0  # the offset is 96% of a 0.2 s period
    offset_s = tape.start_offset_s(name, rate_hz)
    with fake_gateway() as (target, gateway):

        async def run() -> float:
            with tape.record():
                await devices.run_xray(target, time.monotonic() + 1.0, rate_hz, 3, name, height=64, width=128)
            with tape.play():
                started_s = time.time()
                await devices.run_xray(
                    target, time.monotonic() + 1.0, rate_hz, 3, name, height=64, width=128, max_frames=2
                )
            return started_s

        started_s = asyncio.run(run())
    first_capture_s = gateway.frames[0].capture_time.ToNanoseconds() / 1e9
    assert first_capture_s - started_s >= offset_s > 0.15
