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
  of the anomaly (a planted drop: a drop alert whose window ends in the drop or in the
  ``DROP_WEEKS`` weeks after), its delay the weeks from its start to the first alert (for a drop, to
  the last week of the window that revealed it: the alert comes when the next week's first case
  arrives). A rise alert is false when most of its cases are not planted anomaly cases, a drop alert
  when no planted drop of its series is in its window.
- Link alerts: in the same stream, each ``crime_link`` detection names a new case and earlier cases;
  a planted link between two cases (syndicate, shared phone, shared address) is found when an alert
  names the pair, and an alert's pair is true when the truth's graph links the two within
  ``LINK_HOPS`` (false pairs: the alert's precision).
- Extraction: news and posts passed as text only (their ``entities`` stripped, the truth kept for
  scoring) through the plugin's ``with_entities``: per entity type, the mentions extracted against
  those the record's truth names (and how many of those its text spells out at all), and the planted
  links the graph of the text-only records finds.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartcustoms.core.evaluation import Tally
from smartcustoms.core.plugin import PluginContext
from smartcustoms.plugins.crime import LINK_LABEL, CrimeAnalyticsPlugin, with_entities
from smartcustoms.plugins.crime.entities import Mention, mentions_of
from smartcustoms.plugins.crime.graph import LinkGraph, build_graph
from smartcustoms.plugins.crime.resolve import ExactNameResolver, Resolver
from smartcustoms.plugins.crime.store import StoredRecord, TrendAlert
from smartcustoms.plugins.crime.trends import DROP_WEEKS, drop_window, week_of
from smartcustoms.v1 import frame_pb2

from .extraction import ExtractionCounts, extraction_counts, text_only

BATCH = 50
LINK_HOPS = 4
RANDOM_PAIRS = 1000
GROUPS = {"persons": frozenset({"Person"}), "companies": frozenset({"Company", "Organization"})}
METHODS = ("resolver", "exact_name")


PairCounts = Tally  # entity pairs merged against pairs of one true entity


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
    delays_weeks: dict[str, list[int]] = field(default_factory=dict)  # kind -> delays
    alerts: Counter[str] = field(default_factory=Counter)  # direction -> alerts
    false_alerts: Counter[str] = field(default_factory=Counter)

    def merge(self, other: AnomalyCounts) -> None:
        self.planted.update(other.planted)
        self.found.update(other.found)
        for kind, delays in other.delays_weeks.items():
            self.delays_weeks.setdefault(kind, []).extend(delays)
        self.alerts.update(other.alerts)
        self.false_alerts.update(other.false_alerts)


@dataclass
class LinkAlertCounts:
    planted: Counter[str] = field(default_factory=Counter)  # case-to-case planted links, by kind
    found: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    pairs: int = 0  # (new case, earlier case) pairs the alerts name
    true_pairs: int = 0  # of those, linked by the truth's graph
    planted_pairs: int = 0  # of those, a planted link
    cases: int = 0

    def merge(self, other: LinkAlertCounts) -> None:
        self.planted.update(other.planted)
        self.found.update(other.found)
        self.alerts += other.alerts
        self.pairs += other.pairs
        self.true_pairs += other.true_pairs
        self.planted_pairs += other.planted_pairs
        self.cases += other.cases


@dataclass(frozen=True)
class Streamed:
    """What the plugin raised on a world's records: trend alerts, and link alerts as (case, earlier)."""

    alerts: list[TrendAlert]
    links: list[tuple[str, tuple[str, ...]]]


@dataclass
class Result:
    worlds: int = 0
    records: int = 0
    cases: int = 0
    mentions: int = 0
    resolution: dict[tuple[str, str], PairCounts] = field(default_factory=dict)  # (method, group)
    links: dict[str, LinkCounts] = field(default_factory=dict)
    anomalies: AnomalyCounts = field(default_factory=AnomalyCounts)
    link_alerts: LinkAlertCounts = field(default_factory=LinkAlertCounts)
    extraction: ExtractionCounts = field(default_factory=ExtractionCounts)
    text_only_links: LinkCounts = field(default_factory=LinkCounts)

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
        self.link_alerts.merge(other.link_alerts)
        self.extraction.merge(other.extraction)
        self.text_only_links.merge(other.text_only_links)


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
    streamed = stream(records)
    result.anomalies = anomaly_counts(streamed.alerts, scenario)
    result.link_alerts = link_alert_counts(streamed.links, truth_graph, scenario)
    stripped = text_only(records)
    result.extraction = extraction_counts(stripped, records)
    read = [StoredRecord(r.record_id, r.kind, with_entities(r.record_id, dict(r.fields))) for r in stripped]
    result.text_only_links = link_counts(build_graph(read), truth_graph, scenario, seed, random_pairs=0)
    return result


def link_counts(
    graph: LinkGraph, truth_graph: LinkGraph, scenario: Any, seed: int, random_pairs: int = RANDOM_PAIRS
) -> LinkCounts:
    counts = LinkCounts()
    for link in scenario.links:
        counts.planted[link.kind] += 1
        counts.found[link.kind] += bool(graph.links(link.a, link.b, LINK_HOPS))
    rng = random.Random(seed)
    case_ids = sorted(scenario.cases)
    while counts.random_pairs < random_pairs:
        a, b = rng.sample(case_ids, 2)
        if truth_graph.links(a, b, LINK_HOPS):
            continue
        counts.random_pairs += 1
        counts.false_links += bool(graph.links(a, b, LINK_HOPS))
    return counts


def stream(records: Sequence[StoredRecord]) -> Streamed:
    """What the plugin raises on the records, in date order, batch by batch."""
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))
    ordered = sorted(records, key=lambda r: r.fields.get("date", ""))
    links = []
    for start in range(0, len(ordered), BATCH):
        batch = frame_pb2.RecordBatch(
            records=[
                frame_pb2.Record(record_id=r.record_id, kind=r.kind, fields=dict(r.fields))
                for r in ordered[start : start + BATCH]
            ]
        )
        for d in plugin.assess(batch).detections:
            if d.label == LINK_LABEL:
                links.append((d.attributes["case"], tuple(d.attributes["earlier"].split(","))))
    return Streamed(plugin.store.alerts(), links)


def stream_alerts(records: Sequence[StoredRecord]) -> list[TrendAlert]:
    """The trend alerts the plugin raises on the records, in date order, batch by batch."""
    return stream(records).alerts


def anomaly_counts(alerts: Sequence[TrendAlert], scenario: Any) -> AnomalyCounts:
    from smartcustoms.hardware.sim.cases import week_start

    counts = AnomalyCounts()
    planted_cases = {case_id for case_id, case in scenario.cases.items() if case.planted}
    drops = [a for a in scenario.anomalies if a.kind == "drop"]

    def weeks_of(anomaly: Any) -> range:
        start = week_of(week_start(anomaly.start_week).isoformat())
        return range(start, week_of(week_start(anomaly.end_week).isoformat()) + 1)

    def is_false(alert: TrendAlert) -> bool:
        if alert.direction == "drop":
            return not any(
                _series(d) == alert.series and set(weeks_of(d)) & set(drop_window(alert.week)) for d in drops
            )
        return sum(c in planted_cases for c in alert.cases) * 2 < len(alert.cases)

    for alert in alerts:
        counts.alerts[alert.direction] += 1
        counts.false_alerts[alert.direction] += is_false(alert)
    for anomaly in scenario.anomalies:
        counts.planted[anomaly.kind] += 1
        weeks = weeks_of(anomaly)
        first, last = weeks.start, weeks.stop - 1
        direction, last = ("drop", last + DROP_WEEKS) if anomaly.kind == "drop" else ("rise", last)
        found = sorted(
            a.week
            for a in alerts
            if a.series == _series(anomaly) and a.direction == direction and first <= a.week <= last
        )
        if found:
            counts.found[anomaly.kind] += 1
            counts.delays_weeks.setdefault(anomaly.kind, []).append(found[0] - first)
    return counts


def _series(anomaly: Any) -> str:
    if anomaly.dimension == "commodity":
        return f"commodity={anomaly.commodity}"
    return f"{anomaly.dimension}={anomaly.commodity}|{anomaly.value}"


def link_alert_counts(
    links: Sequence[tuple[str, tuple[str, ...]]], truth_graph: LinkGraph, scenario: Any
) -> LinkAlertCounts:
    counts = LinkAlertCounts(alerts=len(links), cases=len(scenario.cases))
    named = {frozenset((case, other)) for case, earlier in links for other in earlier}
    planted = {
        frozenset((k.a, k.b)): k.kind
        for k in scenario.links
        if k.a in scenario.cases and k.b in scenario.cases
    }
    for pair, kind in planted.items():
        counts.planted[kind] += 1
        counts.found[kind] += pair in named
    for pair in named:
        a, b = sorted(pair)
        counts.pairs += 1
        counts.true_pairs += bool(truth_graph.links(a, b, LINK_HOPS))
        counts.planted_pairs += pair in planted
    return counts
