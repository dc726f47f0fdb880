"""crime_analytics: case files, news and posts joined into a link graph and weekly trends (system 10).

Each ``case_record``, ``news_item`` and ``social_post`` record (the customs case system's export and
the feed connectors, ``smartcustoms.hardware.feeds``) names its entities as FollowTheMoney JSON
(``entities``); a record with text only (an RSS news feed's story) gets the entities its text names
(``extract``). The plugin keeps every record in its store (``store``: Redis under the plugin's state
prefix, shared by the pool's actors), where the link graph (``graph``, with entity resolution from
``resolve``) is built for the crime page's questions: what links two cases, who else used this phone,
which companies share this address, which cases are alike. Each new case counts in its weekly series
(commodity, and commodity by route, method and place: ``trends``); a series that leaves its seasonal
band in a week is an ALARM with one ``crime_trend`` detection per series, with the cases behind it.
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

from .extract import entities_from_text
from .store import CaseStore, MemoryCaseStore, RedisCaseStore, StoredRecord, TrendAlert
from .trends import band, needed_weeks, series_of, week_monday, week_of

__all__ = ["CASE_KIND", "LABEL", "RECORD_KINDS", "CrimeAnalyticsPlugin", "store_for"]

LABEL = "crime_trend"
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
        alerts = self.add(records)
        if not alerts:
            return Assessment.clear()
        detections = tuple(self._detection(alert) for alert in alerts)
        return Assessment(Decision.ALARM, detections, risk_score=1.0)

    def add(self, records: Sequence[StoredRecord]) -> list[TrendAlert]:
        """Store the records, count the new cases, and return the alerts raised first by them."""
        if not records:
            return []
        new = self.store.add_records(records)
        entries = [
            (series, week, r.record_id)
            for r, is_new in zip(records, new, strict=True)
            if is_new and r.kind == CASE_KIND and (week := week_of(r.fields.get("date", ""))) >= 0
            for series in series_of(r.fields)
        ]
        if not entries:
            return []
        first_week = self.store.count_cases(entries, min(week for _, week, _ in entries))
        return self._judge(sorted({(series, week) for series, week, _ in entries}), first_week)

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

    def _detection(self, alert: TrendAlert) -> Detection:
        dimension, _, value = alert.series.partition("=")
        what = value.replace("|", " by " + dimension + " ") if dimension != "commodity" else value
        explanation = (
            f"{what}: {alert.count} cases in the week of {alert.week_start}, "
            f"expected {alert.expected:.1f} (band top {alert.top})"
        )
        return Detection(
            label=LABEL,
            score=min(1.0, alert.count / max(alert.top, 1) / 2),
            explanation=explanation,
            attributes={
                "series": alert.series,
                "week": alert.week_start,
                "count": str(alert.count),
                "expected": f"{alert.expected:.2f}",
                "cases": ",".join(alert.cases[:MAX_CASES_LISTED]),
            },
        )
