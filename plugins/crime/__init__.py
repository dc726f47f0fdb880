"""crime_analytics: case files, news and posts joined into a link graph and weekly trends (system 10).

Each ``case_record``, ``news_item`` and ``social_post`` record (the customs case system's export and
the feed connectors, ``smartcustoms.hardware.feeds``) names its entities as FollowTheMoney JSON
(``entities``); a record with text only (an RSS news feed's story) gets the entities its text names
(``extract``). The plugin keeps every record in its store (``store``: Redis under the plugin's state
prefix, shared by the pool's actors), where the link graph (``graph``, with entity resolution from
``resolve``) is built for the crime page's questions: what links two cases, who else used this phone,
which companies share this address, which cases are alike. Each new case counts in its weekly series
(commodity, and commodity by route, method and place: ``trends``); a series that leaves its seasonal
band in a week, upwards (``rise``) or over its last closed weeks downwards (``drop``), is an ALARM with
one ``crime_trend`` detection per series, with the cases behind it. A new case that names a phone,
person, company, vehicle or address earlier cases named is an ALARM with a ``crime_link`` detection
naming those cases and what they share (``links``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

from .entities import mentions_of
from .extract import entities_from_text
from .links import MAX_EARLIER_CASES, CaseLink, entity_keys, link_of
from .store import CaseStore, MemoryCaseStore, RedisCaseStore, StoredRecord, TrendAlert
from .trends import (
    DROP_WEEKS,
    RECENT_WEEKS,
    band,
    drop_band,
    drop_needed_weeks,
    needed_weeks,
    series_of,
    week_monday,
    week_of,
    window_count,
)

__all__ = ["CASE_KIND", "LABEL", "LINK_LABEL", "RECORD_KINDS", "CrimeAnalyticsPlugin", "store_for"]

LABEL = "crime_trend"
LINK_LABEL = "crime_link"
CASE_KIND = "case_record"
RECORD_KINDS = frozenset({CASE_KIND, "news_item", "social_post"})
MAX_CASES_LISTED = 50
TEXT_FIELDS = ("title", "description", "summary", "text")


def with_entities(record_id: str, fields: dict[str, str]) -> dict[str, str]:
    """A record's fields with its ``entities``: its own, or those its text names (a news feed's story,
    a forum's post carry text only: ``extract``)."""
    if fields.get("entities"):
        return fields
    text = "\n".join(fields[name] for name in TEXT_FIELDS if fields.get(name))
    found = entities_from_text(record_id, text) if text else []
    return {**fields, "entities": json.dumps(found, ensure_ascii=False)} if found else fields


def store_for(context: PluginContext) -> CaseStore:
    """The plugin's store: in Redis beside its keyed state, or in memory without one."""
    client = getattr(context.state, "client", None)
    prefix = getattr(context.state, "prefix", "")
    return RedisCaseStore(client, prefix) if client is not None else MemoryCaseStore()


class CrimeAnalyticsPlugin(Plugin):
    spec = PluginSpec(
        name="crime_analytics",
        version="1.0.0",
        consumes=frozenset({Modality.RECORD}),
        record_kinds=RECORD_KINDS,
        description="case files, news and posts: entity links between cases, weekly trends and anomalies",
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.store = store_for(context)

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame.records()) for frame in frames]

    def assess(self, batch: frame_pb2.RecordBatch) -> Assessment:
        records = [
            StoredRecord(r.record_id, r.kind, with_entities(r.record_id, dict(r.fields)))
            for r in batch.records
            if r.kind in RECORD_KINDS
        ]
        alerts, links = self.add_with_links(records)
        if not alerts and not links:
            return Assessment.clear()
        detections = (*(self._detection(a) for a in alerts), *(self._link_detection(k) for k in links))
        return Assessment(Decision.ALARM, detections, risk_score=1.0)

    def add(self, records: Sequence[StoredRecord]) -> list[TrendAlert]:
        """Store the records, count the new cases, and return the trend alerts raised first by them."""
        return self.add_with_links(records)[0]

    def add_with_links(self, records: Sequence[StoredRecord]) -> tuple[list[TrendAlert], list[CaseLink]]:
        """Store the records; return the trend alerts raised first by them and the new cases' links."""
        if not records:
            return [], []
        new_cases = [
            r
            for r, is_new in zip(records, self.store.add_records(records), strict=True)
            if is_new and r.kind == CASE_KIND
        ]
        links = [link for r in new_cases if (link := self._link(r)) is not None]
        entries = [
            (series, week, r.record_id)
            for r in new_cases
            if (week := week_of(r.fields.get("date", ""))) >= 0
            for series in series_of(r.fields)
        ]
        if not entries:
            return [], links
        first_week = self.store.count_cases(entries, min(week for _, week, _ in entries))
        alerts = self._judge(sorted({(series, week) for series, week, _ in entries}), first_week)
        latest = max(week for _, week, _ in entries)
        before = self.store.advance_week(latest)
        if before >= 0:  # weeks before the latest are closed: judge their drops, once each
            alerts += self._judge_drops(range(before, latest), first_week)
        return alerts, links

    def _link(self, record: StoredRecord) -> CaseLink | None:
        keys = entity_keys(mentions_of(record.record_id, record.fields.get("entities", "")))
        if not keys:
            return None
        earlier = self.store.link_cases(sorted(keys), record.record_id, MAX_EARLIER_CASES)
        return link_of(record.record_id, keys, earlier)

    def _judge(self, touched: Sequence[tuple[str, int]], first_week: int) -> list[TrendAlert]:
        wanted = [(series, needed_weeks([week])) for series, week in touched]
        alerts = []
        for (series, week), history in zip(touched, self.store.counts(wanted), strict=True):
            limits = band(history, week, first_week)
            count = history.get(week, 0)
            if limits is None or count < limits.top:
                continue
            cases = tuple(self.store.cases(series, week))
            alert = TrendAlert(series, week, week_monday(week), count, limits.expected, limits.top, cases)
            if self.store.add_alert(alert):
                alerts.append(alert)
        return alerts

    def _judge_drops(self, closed: range, first_week: int) -> list[TrendAlert]:
        """Drops of every series over the windows ending with the ``closed`` weeks; one alert at a
        drop's onset (the window before it was inside its band)."""
        series = self.store.series()
        alerts = []
        for end in closed:
            wanted = [(s, drop_needed_weeks(end)) for s in series]
            for name, history in zip(series, self.store.counts(wanted), strict=True):
                if not self._dropped(history, end, first_week) or self._dropped(history, end - 1, first_week):
                    continue
                limits = drop_band(history, end, first_week)
                assert limits is not None  # _dropped said so
                start = end - DROP_WEEKS + 1
                behind = [c for w in range(start - RECENT_WEEKS, start) for c in self.store.cases(name, w)]
                alert = TrendAlert(
                    name,
                    end,
                    week_monday(start),
                    window_count(history, end),
                    limits.expected,
                    limits.top,
                    tuple(behind),
                    direction="drop",
                    bottom=limits.bottom,
                    weeks=DROP_WEEKS,
                )
                if self.store.add_alert(alert):
                    alerts.append(alert)
        return alerts

    @staticmethod
    def _dropped(history: Mapping[int, int], end: int, first_week: int) -> bool:
        limits = drop_band(history, end, first_week)
        return limits is not None and window_count(history, end) <= limits.bottom

    def _detection(self, alert: TrendAlert) -> Detection:
        dimension, _, value = alert.series.partition("=")
        what = value.replace("|", " by " + dimension + " ") if dimension != "commodity" else value
        if alert.direction == "drop":
            explanation = (
                f"{what} dropped: {alert.count} cases in the {alert.weeks} weeks from {alert.week_start}, "
                f"expected {alert.expected:.1f} (band bottom {alert.bottom}); cases listed: the "
                f"{RECENT_WEEKS} weeks before, the level it fell from"
            )
        else:
            explanation = (
                f"{what} rose: {alert.count} cases in the week of {alert.week_start}, "
                f"expected {alert.expected:.1f} (band top {alert.top})"
            )
        listed = (
            alert.cases[-MAX_CASES_LISTED:] if alert.direction == "drop" else alert.cases[:MAX_CASES_LISTED]
        )
        return Detection(
            label=LABEL,
            score=min(1.0, alert.count / max(alert.top, 1) / 2) if alert.direction == "rise" else 0.5,
            explanation=explanation,
            attributes={
                "series": alert.series,
                "direction": alert.direction,
                "week": alert.week_start,
                "weeks": str(alert.weeks),
                "count": str(alert.count),
                "expected": f"{alert.expected:.2f}",
                "cases": ",".join(listed),
            },
        )

    def _link_detection(self, link: CaseLink) -> Detection:
        earlier = link.earlier
        explanation = (
            f"case {link.case_id} shares {'; '.join(link.entities)} with earlier case"
            f"{'s' if len(earlier) > 1 else ''} {', '.join(earlier[:MAX_CASES_LISTED])}"
        )
        return Detection(
            label=LINK_LABEL,
            score=min(1.0, 0.5 + 0.1 * len(link.entities)),
            explanation=explanation,
            attributes={
                "case": link.case_id,
                "earlier": ",".join(earlier[:MAX_CASES_LISTED]),
                "shared": "; ".join(link.entities),
            },
        )
