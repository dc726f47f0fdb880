"""The evidence locator (issue 13): RFID tag reads into item locations on Redis, beside a bare
baseline measured in the same run.

Reports come from the warehouse simulator (seed ``SEED``, used for nothing else): every zone reader's
report of ``TICKS`` seconds, as RFID frames, handed to ``EvidenceLocationPlugin`` in batches of
``BATCH_FRAMES`` frames as the dispatcher hands them, its state on the session's Redis. Per batch the
plugin parses the reads, checks each EPC with the project's parser, updates every tag's smoothed
track, judges the tags against custody (opening stock enrolled and the run's work orders applied first,
untimed) and sweeps for items not read: two ``MGET`` (tracks, then the custody of the tags to judge) and
one pipelined write. The bare path writes, for the same batches, each tag's zone and strongest RSSI with
one ``MSET`` (no parsing of EPCs, no smoothing, no custody), after reading the frames' reads the same
way. Goal: >= 100,000 tag reads/s. Nothing asserts a time: the plugin must have placed 95% of the items
stored at the end.

Run alone: ``.venv/bin/pytest benchmarks/test_bench_evidence.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from benchkit.checkpoints import rates, ratio, record, run_alternating

from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.state import RedisState
from smartcustoms.hardware.sim import rfid, warehouse
from smartcustoms.plugins.evidence import EvidenceLocationPlugin
from smartcustoms.plugins.evidence.custody import apply_order, enrol_stock, order_from_fields
from smartcustoms.plugins.evidence.store import RedisStore
from smartcustoms.plugins.evidence.tools.evaluate import case_of
from smartcustoms.runtime.services import EmbeddedRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 4113
TICKS = 120
BATCH_FRAMES = 10
ROUNDS = 3
GOAL_READS_PER_S = 100_000


def reports() -> tuple[warehouse.EvidenceWarehouse, list[FrameView]]:
    store = warehouse.EvidenceWarehouse(SEED, horizon_ticks=TICKS)
    frames = [
        inline_view(rfid.to_frame(report, source_id=f"store-{report.zone}", sequence=n))
        for n, report in enumerate(r for tick in range(TICKS) for r in store.tick_reports(tick))
    ]
    return store, frames


def test_tag_reads_into_locations(
    benchmark: Any, redis_service: EmbeddedRedis, checkpoint_summary: list[dict[str, Any]]
) -> None:
    sim, frames = reports()
    reads = sum(len(f.rfid_reads().reads) for f in frames)
    batches = [frames[i : i + BATCH_FRAMES] for i in range(0, len(frames), BATCH_FRAMES)]
    client = redis.Redis.from_url(redis_service.url)
    plugins: list[EvidenceLocationPlugin] = []
    bare_prefix = f"bench-evidence-bare-{uuid.uuid4().hex[:8]}:"

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        prefix = plugin_state_prefix(f"bev{uuid.uuid4().hex[:8]}", "evidence_locator")
        store = RedisStore(client, prefix)
        zones = sim.zone_of_items(0)
        epoch_s = float(rfid.REPORT_EPOCH_S)
        for item, epc in enumerate(sim.epcs[: len(zones)]):
            if zones[item] >= 0:
                zone = sim.zones[int(zones[item])]
                enrol_stock(
                    store, epc, case=case_of(SEED, item), description="seized", zone=zone, at_s=epoch_s
                )
        for order in sim.work_orders(0, TICKS).records:  # the run's orders, applied up front
            apply_order(store, order_from_fields(order.record_id, order.fields))
        context = PluginContext(name="evidence_locator", role=Role.TOOL, state=RedisState(client, prefix))
        plugin = EvidenceLocationPlugin(EvidenceLocationPlugin.spec.default_settings, context)
        plugins.append(plugin)
        return (plugin,), {}

    def framework(plugin: EvidenceLocationPlugin) -> int:
        alarms = 0
        for batch in batches:
            alarms += sum(len(a.detections) for a in plugin.smartcustoms_process_batch(batch))
        return alarms

    def bare() -> None:
        for batch in batches:
            latest: dict[str, str] = {}
            for frame in batch:
                report = frame.rfid_reads()
                for read in report.reads:
                    latest[bare_prefix + read.epc_hex] = f"{report.zone}:{read.rssi_dbm}"
            client.mset(latest)

    try:
        alarms, rounds = run_alternating(benchmark, framework, bare, ROUNDS, prepare)
        store = plugins[-1].locator.store
        tracks = store.get_many([f"tag:{epc}" for epc in sim.epcs])
        truth = sim.zone_of_items(TICKS - 1)
        placed = sum(
            1
            for t, z in zip(tracks, truth, strict=True)
            if z > 0 and t is not None and t["z"] == sim.zones[z]
        )
        stored_items = int(((truth > 0) & (truth < len(sim.zones) - 1)).sum())
    finally:
        client.close()
    assert placed >= 0.95 * stored_items
    figures: dict[str, Any] = {
        "frames": len(frames),
        "tag_reads": reads,
        "batch_frames": BATCH_FRAMES,
        "rounds": ROUNDS,
        "alarms": alarms,
        "placed_items": placed,
        **rates("", rounds.framework_median_s, len(frames), 0, reads),
        **rates("bare_", rounds.bare_median_s, len(frames), 0, reads),
    }
    figures["framework_over_bare"] = ratio(figures["records_per_s"], figures["bare_records_per_s"])
    figures["goal_reads_per_s"] = GOAL_READS_PER_S
    figures["goal_met"] = bool(figures["records_per_s"] >= GOAL_READS_PER_S)
    record(benchmark, checkpoint_summary, "state", "evidence tag reads into locations", figures)
