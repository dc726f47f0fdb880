"""What a risk plugin's result on a record frame says: which records it selected, and why. Pure logic.

The contract (docs/risk.md): a risk plugin's result has one detection per record it selected for
inspection, with the attribute ``record_id``; ``explored="1"`` marks a random exploration pick,
``watchlist`` a pick forced by an officers' watchlist, ``partial`` a record missing fields. A detection
without ``record_id`` is not a record selection.
"""

from __future__ import annotations

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
