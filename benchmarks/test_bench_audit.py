"""The audit trail: how fast the gateway's auditor seals queued verdicts into the hash chain, on the
session's Redis, against bare Redis writes of the same records.

Each round queues 20,000 verdicts the way the ledger does as it stores them (untimed), then times
``seal_pending`` until the queue is empty: reading the queue, turning each verdict into its record
(plugins, versions, reference-data hashes, config hash), SHA-256 chaining, and the compare-and-append
script, 1,000 records a call. The bare path ``RPUSH``es the same records' JSON in pipelines of 1,000,
with no reading, hashing or atomic check. Goal (issue 13): >= 20,000 records/s. Nothing asserts a
time: the chain must verify and hold every verdict, in order.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
import redis
from benchkit.checkpoints import rates, ratio, record, run_alternating

from smartcustoms.core.audit import AuditTrail, enqueue_verdict, verdict_body
from smartcustoms.core.audit_chain import canonical_json, check_chain
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import results_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VERDICTS = 20_000
PIPELINE = 1000
ROUNDS = 3


def verdicts(run_id: str) -> list[results_pb2.Verdict]:
    made = []
    for index in range(VERDICTS):
        verdict = results_pb2.Verdict(
            frame_id=f"{run_id}-{index}",
            source_id=f"lane-{index % 8}",
            sequence=index,
            decision=results_pb2.DECISION_ALARM if index % 50 == 0 else results_pb2.DECISION_CLEAR,
            control_point="LMC",
            config_hash="c0" * 32,
        )
        verdict.decided_time.FromSeconds(1_800_000_000 + index)
        for plugin in ("xray_detector", "dense_region"):
            result = verdict.results.add(plugin=plugin, plugin_version="2.1.0", decision=verdict.decision)
            result.reference_data.add(name=f"{plugin}-library", version="7", content_hash="ab" * 32)
        made.append(verdict)
    return made


def test_seal_queued_verdicts(
    benchmark: Any, redis_service: EmbeddedRedis, checkpoint_summary: list[dict[str, Any]]
) -> None:
    client = redis.Redis.from_url(redis_service.url)
    run_ids = (f"{uuid.uuid4().hex[:6]}r{n}" for n in itertools.count())
    template = verdicts("bare")
    bare_json = [canonical_json({"kind": "verdict", "body": verdict_body(v)}) for v in template]
    bare_key = f"bench-audit-bare-{uuid.uuid4().hex[:8]}"
    trails: list[AuditTrail] = []

    def queue(trail: AuditTrail, run_id: str) -> None:
        batch = verdicts(run_id)
        for start in range(0, VERDICTS, PIPELINE):
            with client.pipeline(transaction=False) as pipe:
                for verdict in batch[start : start + PIPELINE]:
                    enqueue_verdict(pipe, trail.namespace, verdict)
                pipe.execute()

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        trail = AuditTrail(client, f"baudit{next(run_ids)}")
        queue(trail, trail.namespace)
        trails.append(trail)
        return (trail,), {}

    def framework(trail: AuditTrail) -> int:
        sealed = 0
        while batch := trail.seal_pending():
            sealed += len(batch)
        return sealed

    def bare() -> None:
        client.delete(bare_key)
        for start in range(0, VERDICTS, PIPELINE):
            with client.pipeline(transaction=False) as pipe:
                pipe.rpush(bare_key, *bare_json[start : start + PIPELINE])
                pipe.execute()

    try:
        sealed, rounds = run_alternating(benchmark, framework, bare, ROUNDS, prepare)
        started = time.perf_counter()
        checked, breach = check_chain(trails[-1].entries())
        verify_s = time.perf_counter() - started
    finally:
        client.close()

    assert sealed == VERDICTS and (checked, breach) == (VERDICTS, None)
    figures: dict[str, Any] = {
        "records": VERDICTS,
        "rounds": ROUNDS,
        **rates("", rounds.framework_median_s, VERDICTS, 0, VERDICTS),
        **rates("bare_", rounds.bare_median_s, VERDICTS, 0, VERDICTS),
    }
    figures |= {
        "framework_over_bare": ratio(figures["records_per_s"], figures["bare_records_per_s"]),
        "verify_records_per_s": round(VERDICTS / verify_s, 1),
    }
    record(benchmark, checkpoint_summary, "audit", "seal queued verdicts into the hash chain", figures)
