"""What a risk plugin's result on a record frame says: which records it selected, and why. Pure logic.

The contract (docs/risk.md): a risk plugin's result has one detection per record it selected for
inspection, with the attribute ``record_id``; ``explored="1"`` marks a random exploration pick,
``watchlist`` a pick forced by an officers' watchlist, ``partial`` a record missing fields, ``outcomes="1"``
asks for the officer's inspection result of the record back as an ``inspection_outcome`` record. A
detection without ``record_id`` is not a record selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from smartcustoms.core.types import RECORD_KIND_KEY
from smartcustoms.v1 import frame_pb2, results_pb2

RECORD_COUNT_KEY = "record_count"  # frame metadata: how many records the frame's RecordBatch holds


@dataclass(frozen=True)
class RecordSelection:
    reason: str  # "score", "exploration" or "watchlist" (core.metrics.SELECTION_REASONS)
    partial: bool  # the record lacked fields the model reads


def selection_reason(detection: results_pb2.Detection) -> str | None:
    """Why a detection's record was selected, or None when the detection names no record."""
    attributes = detection.attributes
    if not attributes.get("record_id"):
        return None
    if attributes.get("watchlist"):
        return "watchlist"
    return "exploration" if attributes.get("explored") == "1" else "score"


def selections(result: results_pb2.PluginResult) -> list[RecordSelection]:
    """The records a plugin's result selected, in detection order."""
    return [
        RecordSelection(reason, bool(d.attributes.get("partial")))
        for d in result.detections
        if (reason := selection_reason(d)) is not None
    ]


def alert_basis(result: results_pb2.PluginResult) -> str | None:
    """What a plugin's selections in an alert rest on: "watchlist" when any record was watched, else
    "score" when any was picked by score, else "exploration" (random picks only); None without any."""
    reasons = {s.reason for s in selections(result)}
    return next((basis for basis in ("watchlist", "score", "exploration") if basis in reasons), None)


def alert_selections(verdict: results_pb2.Verdict) -> list[tuple[str, str]]:
    """(plugin, basis) for each live plugin that selected records of a record frame's verdict."""
    if verdict.modality != frame_pb2.MODALITY_RECORD:
        return []
    found = [(r.plugin, alert_basis(r)) for r in verdict.results if not r.error]
    return sorted((plugin, basis) for plugin, basis in found if basis is not None)


def record_kind(frame: frame_pb2.Frame) -> str:
    return frame.metadata.get(RECORD_KIND_KEY, "")


def record_count(frame: frame_pb2.Frame) -> int | None:
    """Records in a record frame: its ``record_count`` metadata, else its inline RecordBatch counted;
    None when neither says (a claim-checked payload without the metadata)."""
    text = frame.metadata.get(RECORD_COUNT_KEY, "").strip()
    if text.isdigit():
        return int(text)
    if frame.HasField("blob"):
        return None
    try:
        return len(frame_pb2.RecordBatch.FromString(frame.payload).records)
    except DecodeError:
        return None


def selected_records(verdict: results_pb2.Verdict) -> list[tuple[str, results_pb2.Detection]]:
    """(plugin, detection) for each record a live plugin selected in a record frame's verdict."""
    if verdict.modality != frame_pb2.MODALITY_RECORD:
        return []
    return [
        (result.plugin, detection)
        for result in verdict.results
        if not result.error
        for detection in result.detections
        if selection_reason(detection) is not None
    ]


def resolve_record_outcomes(
    verdict: results_pb2.Verdict, outcome: int, given: Sequence[results_pb2.RecordOutcome] = ()
) -> list[results_pb2.RecordOutcome]:
    """One outcome per record the verdict's plugins selected: the officer's ``given`` one by record id,
    else the alert's ``outcome`` (confirmed is a hit, with no revenue stated). ValueError for a given
    record the alert did not select, or one given twice."""
    by_id: dict[str, results_pb2.RecordOutcome] = {}
    for stated in given:
        if stated.record_id in by_id:
            raise ValueError(f"record {stated.record_id!r} has two outcomes")
        if stated.revenue_found_hkd < 0 or stated.revenue_found_hkd != stated.revenue_found_hkd:
            raise ValueError(f"record {stated.record_id!r}: revenue found must be a number >= 0")
        by_id[stated.record_id] = stated
    selected = selected_records(verdict)
    unknown = sorted(set(by_id) - {d.attributes["record_id"] for _, d in selected})
    if unknown:
        raise ValueError(f"the alert did not select record(s) {', '.join(map(repr, unknown))}")
    hit = outcome == results_pb2.ADJUDICATION_OUTCOME_CONFIRMED
    found = []
    for plugin, detection in selected:
        record_id = detection.attributes["record_id"]
        named = by_id.get(record_id)
        found.append(
            results_pb2.RecordOutcome(
                record_id=record_id,
                hit=named.hit if named is not None else hit,
                revenue_found_hkd=named.revenue_found_hkd if named is not None else 0.0,
                plugin=plugin,
            )
        )
    return found


OUTCOME_KIND = "inspection_outcome"  # record kind: an officer's inspection result of a selected record
OUTCOMES_WANTED = "outcomes"  # detection attribute: "1" asks for the record's outcome back on the stream
# What an outcome record carries of the selected record (its risk plugin's detection attributes): the
# fields a history keyed by parties, origin and route needs, under the record's own field names.
OUTCOME_CARRIED_FIELDS = ("hs_code", "importer", "declarant", "origin", "route", "plate")


def outcome_records(verdict: results_pb2.Verdict) -> list[frame_pb2.Record]:
    """The verdict's latest adjudication as one ``inspection_outcome`` record per selected record whose
    plugin asked for it (detection attribute ``outcomes="1"``: a plugin that learns from them).

    Each carries the selected record's fields the risk plugin named on its detection, what the
    inspection found (``hit``, ``revenue_found_hkd``) and what the decision before it said of the same
    record (``earlier_hit``, ``earlier_revenue_found_hkd``; empty for a first decision), so a changed
    decision replaces the earlier one in a history rather than adding a second inspection.
    """
    revision = len(verdict.earlier_adjudications)
    earlier = (
        {(o.plugin, o.record_id): o for o in verdict.earlier_adjudications[-1].record_outcomes}
        if revision
        else {}
    )
    selected = {(plugin, d.attributes["record_id"]): d for plugin, d in selected_records(verdict)}
    records = []
    for outcome in verdict.adjudication.record_outcomes:
        detection = selected.get((outcome.plugin, outcome.record_id))
        if detection is None or detection.attributes.get(OUTCOMES_WANTED) != "1":
            continue  # its plugin learns another way (vehicle_risk: closed search reports), or not at all
        attributes = detection.attributes
        fields = {name: attributes[name] for name in OUTCOME_CARRIED_FIELDS if attributes.get(name)}
        before = earlier.get((outcome.plugin, outcome.record_id))
        fields |= {
            "selected_record_id": outcome.record_id,
            "plugin": outcome.plugin,
            "alert_frame_id": verdict.frame_id,
            "revision": str(revision),
            "hit": "1" if outcome.hit else "0",
            "revenue_found_hkd": repr(outcome.revenue_found_hkd),
            "earlier_hit": "" if before is None else ("1" if before.hit else "0"),
            "earlier_revenue_found_hkd": "" if before is None else repr(before.revenue_found_hkd),
            "officer": verdict.adjudication.officer,
        }
        records.append(
            frame_pb2.Record(
                record_id=f"{outcome.record_id}@{verdict.frame_id}#{revision}",
                kind=OUTCOME_KIND,
                fields=fields,
            )
        )
    return records
