"""IPR monitoring (issue 15): listings through the ipr_monitor plugin, beside a bare baseline.

Goal: >= 5,000 listings/s. ``IprMonitorPlugin.assess`` on batches of 100 ``online_listing`` records
(parse, watchlist, price, catalogue image match, account links and flags in keyed state on the session's
Redis, detections with reasons; evidence capture off, as the audit trail has its own benchmark),
against the least the same batches need: parsing the records and one ``MGET`` plus one ``MSET`` of the
same identifier keys. A third figure runs the plugin on in-memory state: the plugin's own CPU. Listings
come from the simulator (seed ``SEED``, used for nothing else), with their image signatures computed
beforehand as the connectors do. Nothing asserts a time.

Run alone: ``.venv/bin/pytest benchmarks/test_bench_ipr.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis
from benchkit.checkpoints import ms, rates, ratio, record, run_alternating

from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import MemoryState, RedisState
from smartcustoms.hardware.feeds.items import record_from_item
from smartcustoms.hardware.sim.listings import ListingSimulator
from smartcustoms.plugins.ipr import IprMonitorPlugin, ListingView
from smartcustoms.plugins.ipr.linking import image_bands, normal_phone
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2

SEED = 4111  # no tuning, evaluation or test seed
GOAL_PER_S = 5_000
BATCH_LISTINGS = 100
WARM_BATCHES = 2
BATCHES_PER_ROUND = 5
ROUNDS = 3


def listing_batches(count: int) -> list[frame_pb2.RecordBatch]:
    simulator = ListingSimulator(SEED)
    records = [
        record_from_item(x.item(), source=x.platform, image=x.image, fetched_at_s=x.posted_at_s)
        for x in simulator.listings(count * BATCH_LISTINGS)
    ]
    return [
        frame_pb2.RecordBatch(records=records[i : i + BATCH_LISTINGS])
        for i in range(0, len(records), BATCH_LISTINGS)
    ]


def test_listings_through_the_ipr_plugin(
    benchmark: Any, redis_service: EmbeddedRedis, checkpoint_summary: list[dict[str, Any]]
) -> None:
    batches = listing_batches(WARM_BATCHES + ROUNDS * BATCHES_PER_ROUND)
    warm, timed = batches[:WARM_BATCHES], batches[WARM_BATCHES:]
    rounds_of = [timed[r * BATCHES_PER_ROUND : (r + 1) * BATCHES_PER_ROUND] for r in range(ROUNDS)]
    client = redis.Redis.from_url(redis_service.url)
    run_id = uuid.uuid4().hex[:8]
    state = RedisState(client, plugin_state_prefix(f"bipr{run_id}", "ipr_monitor"))
    plugin = IprMonitorPlugin({"evidence": False}, PluginContext("ipr_monitor", state=state))
    bare_prefix = f"bench-bare-ipr-{run_id}:"
    batch_s: list[float] = []
    bare_s: list[float] = []
    flagged = [0]

    def bare_batch(batch: frame_pb2.RecordBatch) -> None:
        views = [ListingView(r.record_id, dict(r.fields)) for r in batch.records]
        keys = []
        for v in views:
            keys += [f"phone:{normal_phone(v.get('phone'))}", f"pay:{v.get('payment_id')}"]
            keys += [f"img:{band}" for band in image_bands(v.get("image_phash"))]
        keys = [bare_prefix + key for key in keys]
        client.mget(keys)
        client.mset(dict.fromkeys(keys, "1"))

    next_bare = iter(range(ROUNDS))
    next_framework = iter(range(ROUNDS))

    def bare() -> None:
        for batch in rounds_of[next(next_bare)]:
            started = time.perf_counter()
            bare_batch(batch)
            bare_s.append(time.perf_counter() - started)

    def assess_round(round_batches: list[frame_pb2.RecordBatch], first: int) -> None:
        for offset, batch in enumerate(round_batches):
            started = time.perf_counter()
            assessment = plugin.assess(f"{run_id}-{first + offset}", batch)
            batch_s.append(time.perf_counter() - started)
            flagged[0] += len(assessment.detections)

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        r = next(next_framework)
        return (rounds_of[r], r * BATCHES_PER_ROUND), {}

    try:
        plugin.smartcustoms_warm_up()
        for index, batch in enumerate(warm):
            plugin.assess(f"{run_id}-warm-{index}", batch)
            bare_batch(batch)
        _, rounds = run_alternating(benchmark, assess_round, bare, ROUNDS, prepare)
    finally:
        client.close()

    memory_plugin = IprMonitorPlugin({"evidence": False}, PluginContext("ipr_monitor", state=MemoryState()))
    memory_plugin.smartcustoms_warm_up()
    started = time.perf_counter()
    for index, batch in enumerate(timed):
        memory_plugin.assess(f"m-{index}", batch)
    memory_per_s = len(timed) * BATCH_LISTINGS / (time.perf_counter() - started)

    listings = BATCHES_PER_ROUND * BATCH_LISTINGS
    figures: dict[str, Any] = {
        "batch_listings": BATCH_LISTINGS,
        "rounds": ROUNDS,
        **rates("", rounds.framework_median_s, BATCHES_PER_ROUND, 0, listings),
        **rates("bare_", rounds.bare_median_s, BATCHES_PER_ROUND, 0, listings),
        "memory_state_records_per_s": round(memory_per_s, 1),
        "latency_p50_ms": ms(batch_s, 50),
        "latency_p99_ms": ms(batch_s, 99),
        "bare_latency_p50_ms": ms(bare_s, 50),
        "flagged": flagged[0],
        "goal_records_per_s": GOAL_PER_S,
    }
    figures["framework_over_bare"] = ratio(figures["records_per_s"], figures["bare_records_per_s"])
    figures["goal_met"] = figures["records_per_s"] >= GOAL_PER_S
    record(
        benchmark,
        checkpoint_summary,
        "state",
        f"ipr_monitor assess, {BATCH_LISTINGS}-listing batches",
        figures,
    )
    processes = GOAL_PER_S / figures["records_per_s"]
    print(
        f"one process assesses {figures['records_per_s']:,.0f} listings/s on Redis state "
        f"({memory_per_s:,.0f}/s on in-memory state; "
        f"bare Redis work {figures['bare_records_per_s']:,.0f}/s): "
        f"{GOAL_PER_S:,}/s takes ~{processes:.1f} such processes (actors of the plugin's pool)"
    )
