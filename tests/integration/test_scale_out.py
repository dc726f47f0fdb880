"""Several of everything on shared services: what a site with more than one machine relies on.

Every process here runs on the session's broker, Redis and Ray head (``[broker] bootstrap_servers``,
``[redis] url``, ``[ray] address``), nothing embedded: the configuration a multi-host site uses.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smartcustoms.core.config import Config
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, RetryPolicy, VendorClient
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack, pipeline_serving, with_free_ports
from smartcustoms.runtime.testing import ledger_settled, only_plugins
from smartcustoms.runtime.topics import frames_topic
from smartcustoms.v1 import frame_pb2, ingest_pb2

pytestmark = pytest.mark.integration

FRAMES = 60
RATE_HZ = 20.0


def _frame(number: int) -> frame_pb2.Frame:
    frame = rfid_to_frame(frame_pb2.RfidReadBatch(reader_id="lane-7"), source_id="lane-7", sequence=number)
    frame.frame_id = f"scale-{number}"
    return frame


def _beside(config: Config, run_dir: Path) -> Config:
    """The same site (namespace, broker, Redis, Ray, blob store) for another process on its own ports."""
    other = with_free_ports(copy.deepcopy(config))
    other.run_dir = str(run_dir)
    return other


def test_a_vendor_fails_over_to_the_second_gateway_when_the_first_is_killed_under_load(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    only_plugins(runtime_config, "rfid_epc_check")
    first = start_stack(runtime_config)  # gateway and stream worker
    second = start_stack(_beside(runtime_config, tmp_path / "second"), worker=False)  # a gateway only
    assert first.gateway is not None

    async def stream() -> tuple[list[ingest_pb2.IngestAck], VendorClient, float]:
        retry = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=0.5)
        targets = [first.gateway_target, second.gateway_target]
        async with VendorClient(targets, retry=retry, window_frames=8) as client:
            futures, killed_at = [], 0.0
            started = time.monotonic()
            for number in range(1, FRAMES + 1):
                futures.append(await client.send(_frame(number)))
                if number == FRAMES // 3:
                    assert first.gateway is not None
                    first.gateway.stop(timeout_s=0)  # killed with frames on the wire
                    killed_at = time.monotonic()
                await asyncio.sleep(max(0.0, started + number / RATE_HZ - time.monotonic()))
            acks = [await future for future in futures]
            assert client.target == second.gateway_target
            return acks, client, killed_at

    acks, client, killed_at = asyncio.run(stream())
    assert [ack.code for ack in acks] == [OK] * FRAMES, (
        "every frame acknowledged, by one gateway or the other"
    )
    assert client.stats.reconnects >= 1
    taken_by_second = total(scrape(second.metrics_urls[0]), "smartcustoms_ingest_frames_accepted_total")
    assert 0 < taken_by_second <= FRAMES
    counts = asyncio.run(ledger_settled(runtime_config, FRAMES, 60))
    # exactly one verdict each: the shared ledger answered a frame taken twice as a duplicate
    assert (counts.accepted, counts.verdicts, counts.fallbacks, counts.imbalance) == (FRAMES, FRAMES, 0, 0)
    print(
        f"\nfailover: {taken_by_second:.0f} of {FRAMES} frames taken by the second gateway, "
        f"{client.stats.duplicates} answered as duplicates, {client.stats.resends} resent, "
        f"all acknowledged {time.monotonic() - killed_at:.1f} s after the kill"
    )


def _partitions(metrics_url: str) -> float:
    try:
        return total(scrape(metrics_url, timeout_s=1.0), "smartcustoms_stream_assigned_partitions")
    except OSError:
        return 0.0


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``condition`` holds; AssertionError after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s:g} s: {what}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_two_workers_share_the_partitions_and_the_survivor_takes_a_killed_one_s(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    config = runtime_config
    only_plugins(config, "rfid_epc_check")
    # the frames the killed worker had taken are published again after 5 s; attempts to spare for the
    # group's rebalance, so each frame gets a verdict from the plugin, not a fallback
    config.reconciler.interval_s = 0.5
    config.reconciler.redeliver_after_s = 5.0
    config.reconciler.max_attempts = 20
    first = start_stack(config)
    second = start_stack(_beside(config, tmp_path / "second"))  # its own gateway and worker, same group
    worker_metrics = [first.metrics_urls[1], second.metrics_urls[1]]
    _wait(lambda: all(_partitions(url) > 0 for url in worker_metrics), 60, "both workers to hold partitions")
    every = sum(_partitions(url) for url in worker_metrics)
    assert every > 0

    sources = [f"lane-{n}" for n in range(1, 9)]  # keyed by source: spread over the partitions

    def frame(number: int) -> frame_pb2.Frame:
        source = sources[number % len(sources)]
        made = rfid_to_frame(frame_pb2.RfidReadBatch(reader_id=source), source_id=source, sequence=number)
        made.frame_id = f"workers-{number}"
        return made

    killed_at = 0.0

    async def stream() -> list[ingest_pb2.IngestAck]:
        nonlocal killed_at
        async with VendorClient(first.gateway_target, window_frames=16) as client:
            futures = []
            started = time.monotonic()
            for number in range(1, FRAMES + 1):
                futures.append(await client.send(frame(number)))
                if number == FRAMES // 3:
                    first.stop_worker(timeout_s=0)  # SIGKILL, frames in its hands
                    killed_at = time.monotonic()
                await asyncio.sleep(max(0.0, started + number / RATE_HZ - time.monotonic()))
            return [await future for future in futures]

    survivor = second.metrics_urls[1]
    took: list[float] = []

    def watch() -> None:  # from the kill until the survivor holds every partition
        while not killed_at:
            time.sleep(0.05)
        took.append(_wait(lambda: _partitions(survivor) >= every, 90, "the survivor to take every partition"))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    acks = asyncio.run(stream())
    assert [ack.code for ack in acks] == [OK] * FRAMES
    watcher.join(95)
    assert took, "the survivor took every partition"
    counts = asyncio.run(ledger_settled(config, FRAMES, 120))
    assert (counts.accepted, counts.verdicts, counts.fallbacks, counts.imbalance) == (FRAMES, FRAMES, 0, 0)
    print(
        f"\ntwo workers: the survivor held all {every:.0f} partitions {took[0]:.1f} s after the kill "
        f"(broker session timeout {config.broker.session_timeout_s:g} s); {FRAMES} frames, one verdict each"
    )


def test_each_source_s_frames_stay_in_order_on_one_partition(gateway_alone: Stack) -> None:
    config = gateway_alone.config
    sources = [f"lane-{n}" for n in range(1, 7)]
    per_source = 25

    async def scanner(source: str) -> list[int]:  # one stream per scanner, frames pipelined on it
        async with VendorClient(gateway_alone.gateway_target, window_frames=8) as client:
            futures = []
            for number in range(1, per_source + 1):
                made = rfid_to_frame(
                    frame_pb2.RfidReadBatch(reader_id=source), source_id=source, sequence=number
                )
                futures.append(await client.send(made))
            return [(await future).code for future in futures]

    async def scanners() -> None:
        codes = await asyncio.gather(*(scanner(source) for source in sources))
        assert all(code == OK for one in codes for code in one)

    async def published() -> dict[str, list[tuple[int, int]]]:
        """(partition, sequence) of each source's frames, in the order each partition holds them."""
        from aiokafka import AIOKafkaConsumer

        topic = frames_topic(config.namespace, Modality.RFID)
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=config.broker.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        found: dict[str, list[tuple[int, int]]] = {source: [] for source in sources}
        try:
            deadline = time.monotonic() + 30
            while sum(map(len, found.values())) < len(sources) * per_source:
                assert time.monotonic() < deadline, {s: len(f) for s, f in found.items()}
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for message in messages:
                        frame = frame_pb2.Frame.FromString(message.value)
                        found[frame.source_id].append((message.partition, frame.sequence))
        finally:
            await consumer.stop()
        return found

    asyncio.run(scanners())
    found = asyncio.run(published())
    partitions = {source: {p for p, _ in seen} for source, seen in found.items()}
    assert all(len(held) == 1 for held in partitions.values()), partitions  # keyed by source
    assert len(set().union(*partitions.values())) > 1, "the sources spread over the partitions"
    for source, seen in found.items():
        assert [sequence for _, sequence in seen] == list(range(1, per_source + 1)), source


def test_a_worker_the_partitions_do_not_reach_stands_by_and_takes_over_when_another_stops(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    """Faust hands each worker a block of ceil(partitions / workers) partitions of every topic and keeps
    existing blocks: with 4 partitions, a third worker gets none. It must stand by (ready, counted, the
    gateway still SERVING) rather than hold the gateway's health hostage, and take a block when a
    worker that had one stops."""
    config = runtime_config
    only_plugins(config, "rfid_epc_check")
    config.broker.partitions = 4
    stacks = [start_stack(config)]  # each start waits until its worker reports ready
    stacks += [start_stack(_beside(config, tmp_path / f"worker{n}")) for n in (2, 3)]
    urls = [stack.metrics_urls[1] for stack in stacks]
    held = lambda: [_partitions(url) for url in urls]  # noqa: E731
    _wait(lambda: sorted(held())[0] == 0 and sorted(held())[1] == sorted(held())[2] > 0, 60, "one standby")
    blocks = held()
    every = sum(blocks)
    standby = blocks.index(0)
    worker = stacks[standby].worker
    assert worker is not None and "holds no partitions" in worker.log_tail(200)
    # the gateway reads the workers' reports every so often: until the standby's first ready report is
    # read, its earlier "joining" report holds the pipeline NOT_SERVING
    _wait(lambda: pipeline_serving(stacks[0].gateway_target), 15, "the pipeline to serve beside a standby")

    leaving = next(n for n, count in enumerate(blocks) if count > 0)
    stacks[leaving].stop_worker()  # a graceful stop: it leaves the group
    urls.pop(leaving)
    took = _wait(lambda: min(held()) > 0 and sum(held()) == every, 60, "the standby to take the block")
    print(
        f"\nthree workers on 4 partitions a topic: blocks of {max(blocks):.0f} of {every:.0f}, one standby; "
        f"it held a block {took:.1f} s after a worker with one stopped"
    )
