"""The audit trail on a real Redis: appends chain, and every way of tampering is caught at its record."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from smartcustoms.core.audit import (
    AsyncAuditTrail,
    AuditTrail,
    audit_key,
    enqueue_event,
    enqueue_verdict,
    verdict_body,
)
from smartcustoms.core.audit_chain import (
    GENESIS_HASH,
    Anchor,
    AuditRecord,
    chain_hash,
    check_chain,
    check_proof,
    seal,
)
from smartcustoms.runtime.audit_cli import case_proof
from smartcustoms.v1 import results_pb2


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as connection:
        yield connection


@pytest.fixture
def trail(client: redis.Redis) -> AuditTrail:
    return AuditTrail(client, f"audit-{uuid.uuid4().hex[:8]}")


def _fill(trail: AuditTrail, count: int) -> list[AuditRecord]:
    return trail.append_many([("custody", {"case": f"C{i % 3}", "step": i}) for i in range(count)])


def _log(trail: AuditTrail) -> str:
    return audit_key(trail.namespace, "log")


# --------------------------------------------------------------------------- the chain, pure


def test_seal_links_each_record_to_the_previous_hash() -> None:
    first = seal(0, GENESIS_HASH, "verdict", {"frame_id": "f1"}, 1_700_000_000.0)
    second = seal(1, first.hash, "adjudication", {"frame_id": "f1"}, 1_700_000_001.0)
    assert second.prev == first.hash
    assert second.hash == chain_hash(first.hash, second.digest)
    assert check_chain([first.to_json(), second.to_json()]) == (2, None)


def test_a_record_changed_in_place_is_named() -> None:
    records = [seal(i, GENESIS_HASH, "x", {"n": i}, 0.0) for i in range(1)]
    for i in range(1, 5):
        records.append(seal(i, records[-1].hash, "x", {"n": i}, 0.0))
    stored = [r.to_json() for r in records]
    stored[2] = stored[2].replace('"n":2', '"n":7')
    _, breach = check_chain(stored)
    assert breach is not None and breach.seq == 2 and "changed" in breach.problem


# --------------------------------------------------------------------------- on Redis


def test_appends_chain_from_genesis_and_read_back_intact(trail: AuditTrail) -> None:
    records = _fill(trail, 50)
    assert [r.seq for r in records] == list(range(50))
    assert records[0].prev == GENESIS_HASH
    assert trail.length() == 50
    assert check_chain(trail.entries(chunk=7)) == (50, None)  # read across chunk boundaries


def test_writers_on_one_chain_never_fork_it(client: redis.Redis) -> None:
    namespace = f"audit-{uuid.uuid4().hex[:8]}"
    first, second = AuditTrail(client, namespace), AuditTrail(client, namespace)
    for step in range(20):  # each writer's head goes stale whenever the other appends
        writer = first if step % 3 else second
        writer.append("custody", {"step": step})
    assert check_chain(first.entries()) == (20, None)
    steps = [AuditRecord.from_json(raw).body["step"] for raw in first.entries()]
    assert steps == list(range(20))


def test_changing_a_record_in_redis_fails_verify_at_that_record(
    trail: AuditTrail, client: redis.Redis
) -> None:
    _fill(trail, 30)
    raw = json.loads(client.lindex(_log(trail), 17))  # type: ignore[arg-type]  # bytes from redis-py
    raw["body"]["step"] = 99
    client.lset(_log(trail), 17, json.dumps(raw))
    _, breach = check_chain(trail.entries())
    assert breach is not None and breach.seq == 17 and breach.problem.startswith("changed")


def test_a_record_rewritten_with_a_fresh_hash_is_named(trail: AuditTrail, client: redis.Redis) -> None:
    _fill(trail, 30)
    original = AuditRecord.from_json(client.lindex(_log(trail), 12))  # type: ignore[arg-type]
    forged = seal(12, original.prev, original.kind, {"case": "C0", "step": "forged"}, 0.0)
    client.lset(_log(trail), 12, forged.to_json())
    _, breach = check_chain(trail.entries())
    assert breach is not None and breach.seq == 12 and "rewritten" in breach.problem


def test_removed_and_reordered_records_are_named(trail: AuditTrail, client: redis.Redis) -> None:
    _fill(trail, 30)
    removed = client.lindex(_log(trail), 8)
    client.lrem(_log(trail), 1, removed)  # type: ignore[arg-type]
    _, breach = check_chain(trail.entries())
    assert breach is not None and breach.seq == 8 and breach.problem.startswith("removed")

    client.linsert(_log(trail), "BEFORE", client.lindex(_log(trail), 8), removed)  # type: ignore[arg-type]
    assert check_chain(trail.entries()) == (30, None)  # put back: intact again
    a, b = client.lindex(_log(trail), 20), client.lindex(_log(trail), 21)
    client.lset(_log(trail), 20, b)  # type: ignore[arg-type]
    client.lset(_log(trail), 21, a)  # type: ignore[arg-type]
    _, breach = check_chain(trail.entries())
    assert breach is not None and breach.seq == 20
    assert breach.problem == "removed or moved: position 20 holds record 21"


def test_a_consistently_rewritten_tail_is_caught_by_the_anchor(
    trail: AuditTrail, client: redis.Redis
) -> None:
    records = _fill(trail, 10)
    anchor = Anchor(records[-1].seq, records[-1].hash, "2026-12-02T00:00:00+00:00")
    # Rewrite records 5..9 into a valid chain of their own: only the anchor knows better.
    prev = records[4].hash
    for seq in range(5, 10):
        forged = seal(seq, prev, "custody", {"case": "C0", "step": f"forged {seq}"}, 0.0)
        client.lset(_log(trail), seq, forged.to_json())
        prev = forged.hash
    assert check_chain(trail.entries()) == (10, None)
    _, breach = check_chain(trail.entries(), [anchor])
    assert breach is not None and breach.seq == 9 and "anchor" in breach.problem
    client.ltrim(_log(trail), 0, 6)  # and a cut tail
    _, breach = check_chain(trail.entries(), [anchor])
    assert breach is not None and breach.seq == 7 and "missing" in breach.problem


def test_queued_events_are_sealed_in_order_and_leave_the_queue(
    trail: AuditTrail, client: redis.Redis
) -> None:
    trail.append("custody", {"case": "C1", "step": "direct"})
    verdict = results_pb2.Verdict(frame_id="f-9", source_id="lane-1", decision=results_pb2.DECISION_ALARM)
    verdict.results.add(plugin="xray_detector", plugin_version="2.0.0", decision=results_pb2.DECISION_ALARM)
    verdict.results[0].reference_data.add(name="xray-library", version="7", content_hash="ab" * 32)
    with client.pipeline(transaction=True) as pipe:
        enqueue_verdict(pipe, trail.namespace, verdict)
        enqueue_event(pipe, trail.namespace, "adjudication", {"frame_id": "f-9", "outcome": "CONFIRMED"})
        pipe.rpush(audit_key(trail.namespace, "pending"), b"?garbage")
        pipe.execute()
    sealed = trail.seal_pending()
    assert [r.kind for r in sealed] == ["verdict", "adjudication", "unreadable"]
    assert sealed[2].body == {"entry": b"?garbage".hex()}
    assert sealed[0].body == verdict_body(verdict)
    assert sealed[0].body["results"][0]["reference_data"][0]["content_hash"] == "ab" * 32
    assert trail.pending() == 0 and trail.seal_pending() == []
    assert check_chain(trail.entries()) == (4, None)
    assert trail.kinds() == {"custody": 1, "verdict": 1, "adjudication": 1, "unreadable": 1}


def test_the_async_trail_extends_the_same_chain(client: redis.Redis, redis_url: str) -> None:
    namespace = f"audit-{uuid.uuid4().hex[:8]}"
    AuditTrail(client, namespace).append("custody", {"step": 0})

    async def scenario() -> list[AuditRecord]:
        async_client = aioredis.Redis.from_url(redis_url)
        try:
            trail = AsyncAuditTrail(async_client, namespace)
            appended = await trail.append_many([("custody", {"step": 1}), ("custody", {"step": 2})])
            await async_client.rpush(audit_key(namespace, "pending"), b'override\x1f{"desk":"liquor"}')
            return appended + await trail.seal_pending()
        finally:
            await async_client.aclose()

    records = asyncio.run(scenario())
    assert [r.seq for r in records] == [1, 2, 3]
    assert check_chain(AuditTrail(client, namespace).entries()) == (4, None)


def test_a_case_export_proves_its_records_up_to_an_anchor(trail: AuditTrail) -> None:
    records = _fill(trail, 40)
    anchor = Anchor(records[-1].seq, records[-1].hash, "2026-12-02T00:00:00+00:00")
    proof = case_proof(trail, "C1", [anchor])
    assert [r["body"]["step"] for r in proof["records"]] == list(range(1, 40, 3))
    assert proof["anchor"] == {"seq": 39, "hash": records[-1].hash, "at": anchor.at, "anchored": True}
    assert check_proof(json.loads(json.dumps(proof))) is None
    proof["records"][3]["body"]["step"] = 1000  # the case file edited after export
    breach = check_proof(proof)
    assert breach is not None and breach.seq == proof["records"][3]["seq"]
    with pytest.raises(LookupError, match="no audit records"):
        case_proof(trail, "C404", [anchor])
