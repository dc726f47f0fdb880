"""Metrics read from Redis at scrape time, served even while Redis is away.

Each collector that reads Redis (the ledger's conservation counts, officers' tallies, conveyances,
desks, the audit trail) runs inside ``RedisCollectors``. When one cannot read Redis, its metrics are
left out of that scrape, ``smartcustoms_redis_collector_up{collector}`` says 0 for it, and the rest of
``/metrics`` (the process's own counters and histograms, the other collectors) is served as usual:
a Redis outage shows as stale ledger gauges on the dashboards, never as a scrape error that hides every
metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from smartcustoms.core.metrics import REDIS_COLLECTOR_UP

__all__ = ["RedisCollectors"]

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0  # one warning a minute per collector while its reads fail


class RedisCollectors(Collector):
    """Named collectors that read Redis, each guarded on its own; one ``up`` family for all."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._collectors: dict[str, Collector] = {}
        self._logged_at: dict[str, float] = {}
        self._clock = clock

    def add(self, name: str, collector: Collector) -> None:
        if name in self._collectors:
            raise ValueError(f"a Redis collector named {name!r} is registered already")
        self._collectors[name] = collector

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: registering must not read Redis (it may be away when the gateway starts)."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            REDIS_COLLECTOR_UP.name, REDIS_COLLECTOR_UP.documentation, labels=["collector"]
        )
        for name, collector in self._collectors.items():
            try:
                families = list(collector.collect())
            except (RedisError, OSError) as error:
                self._warn(name, error)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up

    def _warn(self, name: str, error: Exception) -> None:
        now = self._clock()
        if now - self._logged_at.get(name, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[name] = now
            log.warning("metrics: %s cannot read Redis, its gauges are left out: %s", name, error)
