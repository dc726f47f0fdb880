"""While the broker is down the gateway acks durable frames without waiting on it, and the reconciler
holds off instead of spending the frames' delivery attempts (none is counted during the outage); once
the broker is back every frame is settled.

The test redelivers after 1 s so that an outage of a few seconds would use up every attempt; with such
a short delay a frame may still run out of attempts while the worker rejoins the restarted broker, so
the end state checked is "settled" (a verdict or a fallback each), not "decided by the plugin"; the
default delay is 30 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.publisher import PUBLISH_TIMEOUT_S
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration


def _frame(number: int) -> frame_pb2.Frame:
    frame = rfid_to_frame(frame_pb2.RfidReadBatch(reader_id="lane-1"), source_id="lane-1", sequence=number)
    frame.frame_id = f"outage-{number}"
    return frame


async def _counts(config: Config) -> Counts:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        return await ledger_for(config, client).counts()
    finally:
        await client.aclose()


async def _attempts(config: Config, frame_ids: list[str]) -> list[int]:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        ledger = ledger_for(config, client)
        return [int(await client.hget(ledger.key("attempts"), f) or 0) for f in frame_ids]
    finally:
        await client.aclose()


async def _decided(config: Config, frame_ids: list[str], timeout_s: float) -> list[results_pb2.Verdict]:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            found = [await ledger.verdict(frame_id) for frame_id in frame_ids]
            if all(v is not None for v in found):
                return [v for v in found if v is not None]
            assert time.monotonic() < deadline, f"undecided: {frame_ids} -> {found}"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


def test_acks_do_not_wait_on_a_dead_broker_and_nothing_falls_back(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    config = runtime_config
    config.broker.bootstrap_servers = ""  # a broker of this stack's own, to stop
    config.reconciler.interval_s, config.reconciler.redeliver_after_s = 0.2, 1.0
    # the broker comes back empty: the worker's last offset commit, as it stops, can never land and it
    # is killed at its stop deadline; a short one keeps the test's teardown short
    config.worker.stop_timeout_s = 3.0
    only_plugins(config, "rfid_epc_check")
    stack = start_stack(config)
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, [_frame(1)]))] == [OK]
    asyncio.run(_decided(config, ["outage-1"], 60))

    assert stack.broker is not None
    stack.broker.stop(timeout_s=0)
    outage = [_frame(n) for n in range(2, 7)]
    started = time.monotonic()
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, outage[:1]))] == [OK]
    first_ack_s = time.monotonic() - started
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, outage[1:]))] == [OK] * 4
    # the publish the first frame waited on ended when the broker was found gone, not at its timeout
    assert total(scrape(stack.metrics_urls[0]), "smartcustoms_ingest_publish_errors_total") == len(outage)
    print(f"\nfirst ack after the broker died: {first_ack_s:.2f} s (publish timeout {PUBLISH_TIMEOUT_S:g} s)")

    time.sleep(2 * config.reconciler.max_attempts * config.reconciler.redeliver_after_s)  # would spend them
    during = asyncio.run(_counts(config))
    assert (during.accepted, during.fallbacks, during.in_flight) == (6, 0, 5)
    assert asyncio.run(_attempts(config, [f.frame_id for f in outage])) == [0] * len(outage)  # none counted

    stack.restart("broker")  # back, empty: the publisher recreates the topics, the reconciler republishes
    found = asyncio.run(_decided(config, [f.frame_id for f in outage], 120))
    assert len(found) == len(outage)
    after = asyncio.run(_counts(config))
    assert (after.accepted, after.verdicts + after.fallbacks, after.in_flight) == (6, 6, 0)
