"""What the runtime tells of IPR monitoring: the demo's line, from the audit trail and the plugin's state.

Every flagged listing is an ``evidence_capture`` record of the audit trail under its IPR case
(``audit:case:IPR-...``); the line counts them and the cases, and names the case with most listings.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smartcustoms.core.audit import audit_key
from smartcustoms.core.metrics import IPR_CASES, IPR_LISTINGS_FLAGGED

__all__ = ["IprCollector", "ipr_counts", "ipr_line"]

EVIDENCE_KIND = "evidence_capture"  # the plugin's audit record kind (smartcustoms.plugins.ipr)


def ipr_counts(client: redis.Redis, namespace: str) -> tuple[int, dict[str, int]]:
    """Listings flagged (evidence captured), and the listings of each IPR case."""
    captured = int(client.hget(audit_key(namespace, "kinds"), EVIDENCE_KIND) or 0)
    prefix = audit_key(namespace, "case", "")
    names = [_text(key)[len(prefix) :] for key in client.scan_iter(match=prefix + "IPR-*", count=1000)]
    pipe = client.pipeline(transaction=False)
    for case in names:
        pipe.zcard(prefix + case)
    return captured, dict(zip(names, map(int, pipe.execute()), strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class IprCollector(Collector):
    """Flagged listings and IPR cases, read from the audit trail at scrape time."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._namespace = namespace

    def collect(self) -> Iterator[Metric]:
        captured, cases = ipr_counts(self._client, self._namespace)
        flagged = CounterMetricFamily(IPR_LISTINGS_FLAGGED.name, IPR_LISTINGS_FLAGGED.documentation)
        flagged.add_metric([], captured)
        yield flagged
        yield GaugeMetricFamily(IPR_CASES.name, IPR_CASES.documentation, value=len(cases))


def ipr_line(redis_url: str, namespace: str) -> str:
    """``ipr: N listings flagged (evidence captured) in M cases; largest CASE (K listings)``."""
    client = redis.Redis.from_url(redis_url)
    try:
        captured, cases = ipr_counts(client, namespace)
    finally:
        client.close()
    largest = max(cases.items(), key=lambda item: item[1], default=("-", 0))
    return (
        f"ipr: {captured} listings flagged, evidence captured in the audit trail, in {len(cases)} cases; "
        f"largest {largest[0]} ({largest[1]} listings)"
    )
