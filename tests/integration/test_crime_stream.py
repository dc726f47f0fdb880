"""Crime analytics on the real stream: the demo's case feed device sends a simulated world's case files,
news and posts through the gateway; ``crime_analytics`` (in its Ray actor, its store on Redis) counts the
cases week by week and raises the planted new route as a trend alert, which the crime page's desk and the
demo's line read back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sim.cases import generate
from smartcustoms.hardware.sim.cases_feed import case_frames, run_cases
from smartcustoms.runtime.crime_page import crime_desk, crime_line
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins

pytestmark = pytest.mark.integration

SEED = 0  # the demo's world
BATCH = 100


def test_case_feed_raises_the_planted_new_route(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    only_plugins(runtime_config, "crime_analytics")
    stack = start_stack(runtime_config)
    frames = len(case_frames(SEED, BATCH))
    stats = asyncio.run(run_cases(stack.gateway_target, time.monotonic() + 60, 20.0, SEED, batch_size=BATCH))
    assert stats.accepted == stats.sent == frames

    async def counts() -> tuple[int, int]:
        client = aioredis.Redis.from_url(runtime_config.redis.url)
        try:
            found = await ledger_for(runtime_config, client).counts()
            return found.in_flight, found.verdicts
        finally:
            await client.aclose()

    wait_for(lambda: asyncio.run(counts()) == (0, frames), 90, 0.2, "every case frame's verdict")
    world = generate(SEED)
    route = next(a for a in world.anomalies if a.kind == "new_route")
    desk = crime_desk(runtime_config.redis.url, runtime_config.namespace)
    alerts = [a for a in desk.store.alerts() if a.series == f"route=illicit_cigarettes|{route.value}"]
    assert alerts and all(world.cases[c].planted == "new_route" for c in alerts[0].cases)
    assert desk.store.record_count() == len(world.records)
    exported = scrape(stack.metrics_urls[0])  # the gateway's /metrics tell the same
    assert total(exported, "smartcustoms_crime_records_total") == len(world.records)
    assert total(exported, "smartcustoms_crime_trend_alerts") == len(desk.store.alerts()) > 0
    assert crime_line(runtime_config.redis.url, runtime_config.namespace).startswith(
        f"crime: {len(world.records)} records, "
    )
