"""Metrics read from Redis keep /metrics whole when Redis goes away: only their own gauges drop out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from smartcustoms.runtime.collectors import RedisCollectors
from smartcustoms.runtime.ledger import ConservationCollector, adjudication_collectors
from smartcustoms.runtime.process import ProcessStack
from smartcustoms.runtime.services import EmbeddedRedis

pytestmark = pytest.mark.integration


def test_a_redis_outage_leaves_out_only_the_gauges_read_from_redis(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    frames = Counter("smartcustoms_test_frames", "frames", registry=registry)
    frames.inc(3)
    with ProcessStack() as stack:
        redis_server = stack.start(EmbeddedRedis(tmp_path, persistence=False))
        guarded = RedisCollectors()
        guarded.add("conservation", ConservationCollector(redis_server.url, "ns"))
        for number, collector in enumerate(adjudication_collectors(redis_server.url, "ns")):
            guarded.add(f"tally-{number}", collector)
        registry.register(guarded)
        assert registry.get_sample_value("smartcustoms_conservation_frames", {"state": "accepted"}) == 0
        assert (
            registry.get_sample_value("smartcustoms_redis_collector_up", {"collector": "conservation"}) == 1
        )
        redis_server.stop()
        with caplog.at_level(logging.WARNING):
            exposition = generate_latest(registry).decode()  # served, not an error
            generate_latest(registry)
    assert "smartcustoms_test_frames_total 3.0" in exposition
    assert "smartcustoms_conservation_frames" not in exposition
    assert 'smartcustoms_redis_collector_up{collector="conservation"} 0.0' in exposition
    assert 'smartcustoms_redis_collector_up{collector="tally-2"} 0.0' in exposition
    warned = [r for r in caplog.records if "conservation cannot read Redis" in r.getMessage()]
    assert len(warned) == 1, "one warning per collector and minute, not one per scrape"


def test_two_collectors_cannot_share_a_name() -> None:
    guarded = RedisCollectors()
    guarded.add("ledger", CollectorRegistry())
    with pytest.raises(ValueError, match="ledger"):
        guarded.add("ledger", CollectorRegistry())
