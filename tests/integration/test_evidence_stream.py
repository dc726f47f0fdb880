"""The evidence store on the real stream: the simulated warehouse streams its readers' reports and its
work orders through the gateway, ``evidence_orders`` applies the orders and ``evidence_locator`` (in
its Ray actor, its state on Redis) locates the items and alerts on the simulator's anomalies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sim.devices import run_warehouse
from smartcustoms.hardware.sim.warehouse import EvidenceWarehouse
from smartcustoms.runtime.evidence import configure_demo, demo_lines, enrol_demo_stock, evidence_desk
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins

pytestmark = pytest.mark.integration

SEED = 1  # the demo's warehouse; over this horizon an unauthorised move and a missing item start at tick 39
HORIZON_TICKS = 3000
TICKS = 110
RATE_HZ = 25.0  # simulated seconds a second


def test_the_warehouse_stream_locates_items_and_alerts_on_its_anomalies(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    only_plugins(runtime_config, "evidence_locator", "evidence_orders")
    configure_demo(runtime_config)
    stack = start_stack(runtime_config)
    assert enrol_demo_stock(runtime_config, seed=SEED) > 0
    stats = asyncio.run(
        run_warehouse(
            stack.gateway_target,
            time.monotonic() + 120,
            RATE_HZ,
            SEED,
            "evidence-store",
            max_frames=6 * TICKS,
            horizon_ticks=HORIZON_TICKS,
        )
    )
    assert stats.accepted == stats.sent == 6 * TICKS

    async def in_flight() -> int:
        client = aioredis.Redis.from_url(runtime_config.redis.url)
        try:
            return (await ledger_for(runtime_config, client).counts()).in_flight
        finally:
            await client.aclose()

    wait_for(lambda: asyncio.run(in_flight()) == 0, 90, 0.2, "every frame's verdict")

    sim = EvidenceWarehouse(SEED, horizon_ticks=HORIZON_TICKS)
    desk = evidence_desk(runtime_config.redis.url, runtime_config.namespace)
    try:
        truth = sim.zone_of_items(TICKS - 10)
        stored = [n for n, z in enumerate(truth) if 1 <= z <= 3]
        where = {
            i["epc"]: i["located_zone"]
            for z in ("vault-a", "vault-b", "vault-c")
            for i in desk.locate(zone=z)
        }
        right = sum(where.get(sim.epcs[n]) == sim.zones[truth[n]] for n in stored)
        alerts = {label: desk.store.counter(f"count:alert:{label}") for label in ("wrong_zone", "not_read")}
        deposited = [e for e in sim.events if e.kind == "deposit" and e.tick < TICKS]
        registered = [desk.store.get(f"item:{e.epc_hex}") for e in deposited]
    finally:
        desk.close()
    assert right >= 0.95 * len(stored)
    moved = {
        e.epc_hex for e in sim.anomalies if e.kind == "unauthorised_move" and e.arrival_tick < TICKS - 10
    }
    lost = {e.epc_hex for e in sim.anomalies if e.kind == "missing" and e.tick < TICKS - 45}
    assert moved and lost
    assert alerts["wrong_zone"] >= len(moved) and alerts["not_read"] >= len(lost), alerts
    assert deposited and all(item is not None for item in registered)  # orders from the stream applied
    lines = demo_lines(runtime_config)
    assert lines[0].startswith("evidence store: tags located ") and "stock-take" in lines[1]
