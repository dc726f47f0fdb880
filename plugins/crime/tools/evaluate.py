"""Score the crime_analytics plugin on simulated case worlds, against the simulator's truth.

For each world (one seed of a generator):

- Entity resolution: pairwise precision and recall of "these two mentions are one entity", over the
  person and the company mentions of every record, for ``Resolver`` and, in the same run, the
  exact-name baseline (``ExactNameResolver``).
- Links: the planted links (a syndicate's cases, a shared burner phone, two companies at one address,
  a person named again in the news) found by the link graph within ``LINK_HOPS`` hops, with each
  resolver; and false links: of ``RANDOM_PAIRS`` random case pairs that the truth's graph does not
  link within ``LINK_HOPS``, how many the resolver's graph links.
- Anomalies: the world's records streamed in date order through ``CrimeAnalyticsPlugin.assess`` in
  batches of ``BATCH`` (in-memory store); a planted anomaly is found when its series alerts in a week
  of the anomaly, its delay the weeks from its start to the first alert. An alert is false when most
  of its cases are not planted anomaly cases.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartcustoms.core.plugin import PluginContext
from smartcustoms.plugins.crime import CrimeAnalyticsPlugin
from smartcustoms.plugins.crime.entities import Mention, mentions_of
from smartcustoms.plugins.crime.graph import LinkGraph, build_graph
from smartcustoms.plugins.crime.resolve import ExactNameResolver, Resolver
from smartcustoms.plugins.crime.store import StoredRecord, TrendAlert
from smartcustoms.plugins.crime.trends import week_of
from smartcustoms.v1 import frame_pb2

BATCH = 50
LINK_HOPS = 4
RANDOM_PAIRS = 1000
GROUPS = {"persons": frozenset({"Person"}), "companies": frozenset({"Company", "Organization"})}
METHODS = ("resolver", "exact_name")


@dataclass
class PairCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def merge(self, other: PairCounts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def _pairs(counter: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counter)


def pairwise(
    mentions: Sequence[Mention], truth: Mapping[str, str], entity_of: Mapping[str, str]
) -> PairCounts:
    """Pairwise counts of one clustering of ``mentions`` against the truth's."""
    predicted = Counter(entity_of[m.mention_id] for m in mentions)
    actual = Counter(truth[m.mention_id] for m in mentions)
    both = Counter((entity_of[m.mention_id], truth[m.mention_id]) for m in mentions)
    tp = _pairs(both.values())
    return PairCounts(tp, _pairs(predicted.values()) - tp, _pairs(actual.values()) - tp)


@dataclass
class LinkCounts:
    planted: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    random_pairs: int = 0
    false_links: int = 0

    def merge(self, other: LinkCounts) -> None:
        self.planted.update(other.planted)
        self.found.update(other.found)
        self.random_pairs += other.random_pairs
        self.false_links += other.false_links


@dataclass
class AnomalyCounts:
    planted: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    delays_weeks: list[int] = field(default_factory=list)
    alerts: int = 0
    false_alerts: int = 0

    def merge(self, other: AnomalyCounts) -> None:
        self.planted.update(other.planted)
        self.found.update(other.found)
        self.delays_weeks += other.delays_weeks
        self.alerts += other.alerts
        self.false_alerts += other.false_alerts


@dataclass
class Result:
    worlds: int = 0
    records: int = 0
    cases: int = 0
    mentions: int = 0
    resolution: dict[tuple[str, str], PairCounts] = field(default_factory=dict)  # (method, group)
    links: dict[str, LinkCounts] = field(default_factory=dict)
    anomalies: AnomalyCounts = field(default_factory=AnomalyCounts)

    def merge(self, other: Result) -> None:
        self.worlds += other.worlds
        self.records += other.records
        self.cases += other.cases
        self.mentions += other.mentions
        for key, counts in other.resolution.items():
            self.resolution.setdefault(key, PairCounts()).merge(counts)
        for method, links in other.links.items():
            self.links.setdefault(method, LinkCounts()).merge(links)
        self.anomalies.merge(other.anomalies)


def scenario_of(generator: str, seed: int) -> Any:
    if generator == "alt":
        from smartcustoms.hardware.sim import cases_alt

        return cases_alt.generate(seed)
    from smartcustoms.hardware.sim import cases

    return cases.generate(seed)


def evaluate(generator: str, seeds: Sequence[int]) -> Result:
    total = Result()
    for seed in seeds:
        total.merge(evaluate_world(scenario_of(generator, seed), seed))
    return total


def evaluate_world(scenario: Any, seed: int) -> Result:
    records = [StoredRecord(r.record_id, r.kind, r.fields) for r in scenario.records]
    mentions = [m for r in records for m in mentions_of(r.record_id, r.fields.get("entities", ""))]
    result = Result(1, len(records), len(scenario.cases), len(mentions))
    truth_graph = build_graph(records, entity_of=scenario.truth)
    for method, resolver in zip(METHODS, (Resolver(), ExactNameResolver()), strict=True):
        graph = build_graph(records, resolver)
        assert graph.resolution is not None
        for group, schemata in GROUPS.items():
            chosen = [m for m in mentions if m.schema in schemata]
            result.resolution[method, group] = pairwise(chosen, scenario.truth, graph.resolution.entity_of)
        result.links[method] = link_counts(graph, truth_graph, scenario, seed)
    result.anomalies = anomaly_counts(records, scenario)
    return result


def link_counts(graph: LinkGraph, truth_graph: LinkGraph, scenario: Any, seed: int) -> LinkCounts:
    counts = LinkCounts()
    for link in scenario.links:
        counts.planted[link.kind] += 1
        counts.found[link.kind] += bool(graph.links(link.a, link.b, LINK_HOPS))
    rng = random.Random(seed)
    case_ids = sorted(scenario.cases)
    while counts.random_pairs < RANDOM_PAIRS:
        a, b = rng.sample(case_ids, 2)
        if truth_graph.links(a, b, LINK_HOPS):
            continue
        counts.random_pairs += 1
        counts.false_links += bool(graph.links(a, b, LINK_HOPS))
    return counts


def stream_alerts(records: Sequence[StoredRecord]) -> list[TrendAlert]:
    """The alerts the plugin raises on the records, in date order, batch by batch."""
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))
    ordered = sorted(records, key=lambda r: r.fields.get("date", ""))
    for start in range(0, len(ordered), BATCH):
        batch = frame_pb2.RecordBatch(
            records=[
                frame_pb2.Record(record_id=r.record_id, kind=r.kind, fields=dict(r.fields))
                for r in ordered[start : start + BATCH]
            ]
        )
        plugin.assess(batch)
    return plugin.store.alerts()


def anomaly_counts(records: Sequence[StoredRecord], scenario: Any) -> AnomalyCounts:
    from smartcustoms.hardware.sim.cases import week_start

    counts = AnomalyCounts()
    alerts = stream_alerts(records)
    planted_cases = {case_id for case_id, case in scenario.cases.items() if case.planted}
    counts.alerts = len(alerts)
    counts.false_alerts = sum(
        1 for alert in alerts if sum(c in planted_cases for c in alert.cases) * 2 < len(alert.cases)
    )
    for anomaly in scenario.anomalies:
        counts.planted[anomaly.kind] += 1
        series = f"{anomaly.dimension}={anomaly.commodity}|{anomaly.value}"
        start = week_of(week_start(anomaly.start_week).isoformat())
        end = week_of(week_start(anomaly.end_week).isoformat())
        weeks = sorted(a.week for a in alerts if a.series == series and start <= a.week <= end)
        if weeks:
            counts.found[anomaly.kind] += 1
            counts.delays_weeks.append(weeks[0] - start)
    return counts
