"""Plugin state: what a record plugin pays for a point-in-time windowed count per record, on the
session's Redis, against the bare Redis commands that keep the same count.

Each round scores 2,000 records spread over 100 keys (declarants, plates) as a record plugin does it,
one record at a time: ``window_count`` as of the record's own time (strictly before it), then
``window_add`` of the record (idempotent per record id, with its value, trimmed and expiring). The
bare path issues ``ZCOUNT`` and ``ZADD`` for the same records, without values, trimming, expiry or
atomicity. Nothing asserts a time: every count must be what the records before it make.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import redis
from benchkit.checkpoints import ms, rates, ratio, record, run_alternating

from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.state import RedisState
from smartcustoms.runtime.services import EmbeddedRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 2000
KEYS = 100
WINDOW_S = 3600.0
ROUNDS = 3


def records(run_id: str) -> list[tuple[str, str, float]]:
    """(key, record id, time): each key gets a record every 100 s, so 20 per key in a round."""
    return [
        (f"declarant:{index % KEYS}", f"{run_id}-{index}", 1_800_000_000.0 + index)
        for index in range(RECORDS)
    ]


def expected_counts(batch: Sequence[tuple[str, str, float]]) -> list[int]:
    """What a point-in-time count says for each record: earlier records of its key in the window."""
    seen: dict[str, list[float]] = {}
    counts = []
    for key, _, at_s in batch:
        earlier = seen.setdefault(key, [])
        counts.append(sum(1 for t in earlier if at_s - WINDOW_S <= t < at_s))
        earlier.append(at_s)
    return counts


def test_windowed_counts_per_record(
    benchmark: Any, redis_service: EmbeddedRedis, checkpoint_summary: list[dict[str, Any]]
) -> None:
    client = redis.Redis.from_url(redis_service.url)
    run_ids = (f"{uuid.uuid4().hex[:6]}r{n}" for n in itertools.count())
    framework_s: list[float] = []
    bare_s: list[float] = []
    answers: list[list[int]] = []

    def framework(batch: list[tuple[str, str, float]], state: RedisState) -> None:
        counts = []
        for key, record_id, at_s in batch:
            started = time.perf_counter()
            counts.append(state.window_count(key, window_s=WINDOW_S, as_of_s=at_s))
            state.window_add(key, record_id, at_s, window_s=WINDOW_S)
            framework_s.append(time.perf_counter() - started)
        answers.append(counts)

    bare_batch = records("bare")
    bare_prefix = f"bench-bare-{uuid.uuid4().hex[:8]}:"

    def bare() -> None:
        for key, record_id, at_s in bare_batch:
            started = time.perf_counter()
            client.zcount(bare_prefix + key, at_s - WINDOW_S, f"({at_s}")
            client.zadd(bare_prefix + key, {record_id: at_s})
            bare_s.append(time.perf_counter() - started)

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        run_id = next(run_ids)
        prefix = plugin_state_prefix(f"bstate{run_id}", "declared_value")
        return (records(run_id), RedisState(client, prefix)), {}

    try:
        _, rounds = run_alternating(benchmark, framework, bare, ROUNDS, prepare)
    finally:
        client.close()

    assert len(answers) == ROUNDS
    assert all(counts == expected_counts(records("check")) for counts in answers)
    figures: dict[str, Any] = {
        "records": RECORDS,
        "keys": KEYS,
        "rounds": ROUNDS,
        **rates("", rounds.framework_median_s, RECORDS, 0, RECORDS),
        **rates("bare_", rounds.bare_median_s, RECORDS, 0, RECORDS),
    }
    figures |= {
        "framework_over_bare": ratio(figures["records_per_s"], figures["bare_records_per_s"]),
        "latency_p50_ms": ms(framework_s, 50),
        "latency_p99_ms": ms(framework_s, 99),
        "bare_latency_p50_ms": ms(bare_s, 50),
        "bare_latency_p99_ms": ms(bare_s, 99),
    }
    record(benchmark, checkpoint_summary, "state", "count then add, one record at a time", figures)
