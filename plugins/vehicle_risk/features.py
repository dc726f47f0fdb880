"""The features of one vehicle crossing: from the record itself and from the history in state.

The same code builds the features online (the plugin, on the runtime's Redis) and offline (the tools'
time-ordered replay on a ``MemoryState``), so the model is trained on exactly what it scores.

A field that is absent, empty or unreadable is a missing value (NaN, which LightGBM routes down its
learned default branch), never a zero, and is named in ``CrossingFeatures.missing``. A vehicle class or
owner type the model never saw is a value of its own ("other"), not a missing one. The ground truth a
simulator adds (``illicit``, ``illicit_pattern``, ``duty_at_stake_hkd``) is never read here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from smartcustoms.plugins.vehicle_risk.history import HISTORY_FEATURES, Crossing, CrossingHistory, plate_key
from smartcustoms.v1 import frame_pb2

__all__ = [
    "CROSSING_KIND",
    "FEATURE_NAMES",
    "CrossingFeatures",
    "crossing_features",
    "display_value",
    "parse_crossing",
]

CROSSING_KIND = "vehicle_crossing"

# Counts the crossing system keeps itself and sends with each record, read as they are.
RECORD_COUNTS = (
    "occupants",
    "vehicle_registered_days",
    "crossings_30d",
    "crossings_365d",
    "distinct_drivers_90d",
    "same_day_returns_30d",
    "mean_hours_across_30d",
    "prior_inspections_365d",
    "prior_seizures_365d",
)
# Categorical fields, coded: the model splits on the codes; an unknown value is the "other" code.
VEHICLE_CLASSES = ("mpv", "sedan", "suv", "van", "other")  # from portal_model, "mpv-1" -> "mpv"
OWNER_TYPES = ("individual", "company", "other")
DIRECTIONS = ("outbound", "inbound", "other")
CATEGORIES = {"vehicle_class": VEHICLE_CLASSES, "owner_type": OWNER_TYPES, "direction": DIRECTIONS}
CATEGORY_FIELDS = {"vehicle_class": "portal_model", "owner_type": "owner_type", "direction": "direction"}

FEATURE_NAMES: tuple[str, ...] = (*RECORD_COUNTS, *CATEGORIES, *HISTORY_FEATURES)
# The fields the history is keyed and timed by: missing ones leave its features NaN.
KEY_FIELDS = ("plate_hk", "driver_id_hash", "timestamp")


@dataclass(frozen=True)
class CrossingFeatures:
    """One crossing's feature row (``FEATURE_NAMES`` order) and the fields it lacked."""

    values: np.ndarray  # float64, NaN where missing
    missing: tuple[str, ...]  # record fields absent, empty or unreadable
    crossing: Crossing

    @property
    def plate(self) -> str | None:
        return self.crossing.plate

    @property
    def driver(self) -> str | None:
        return self.crossing.driver


def crossing_features(
    record: frame_pb2.Record, history: CrossingHistory | None, fallback_id: str = ""
) -> CrossingFeatures:
    """The crossing's features; with a ``history``, judged against it as of the crossing's timestamp and
    then added to it (without one, e.g. in a tool with no state, the history features are NaN)."""
    fields, missing = record.fields, list[str]()
    values = {name: _number(fields, name, missing) for name in RECORD_COUNTS}
    for feature, choices in CATEGORIES.items():
        values[feature] = _category(fields, CATEGORY_FIELDS[feature], choices, missing)
    crossing = parse_crossing(record, fallback_id, missing)
    if history is not None:
        values |= history.judge_then_add(crossing)
    else:
        values |= dict.fromkeys(HISTORY_FEATURES, math.nan)
    row = np.array([values[name] for name in FEATURE_NAMES], dtype=np.float64)
    return CrossingFeatures(row, tuple(missing), crossing)


def parse_crossing(record: frame_pb2.Record, fallback_id: str, missing: list[str]) -> Crossing:
    """The keys and time of a crossing (adding what is absent or unreadable to ``missing``)."""
    fields = record.fields
    plate, driver = _text(fields, "plate_hk", missing), _text(fields, "driver_id_hash", missing)
    direction = fields.get("direction", "").strip().lower()
    return Crossing(
        event_id=record.record_id or fallback_id,
        plate=plate_key(plate) if plate else None,
        driver=driver.lower() if driver else None,
        direction=direction if direction in ("inbound", "outbound") else None,
        at_s=_timestamp_s(fields, missing),
    )


def display_value(feature: str, value: float) -> str:
    """A feature value as an officer reads it: categories by name, counts without a trailing .0."""
    if math.isnan(value):
        return "missing"
    if feature in CATEGORIES:
        return CATEGORIES[feature][int(value)]
    return f"{value:.4g}"


def _number(fields: Mapping[str, str], name: str, missing: list[str]) -> float:
    text = fields.get(name, "").strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        missing.append(name)
        return math.nan
    return number


def _category(fields: Mapping[str, str], name: str, choices: tuple[str, ...], missing: list[str]) -> float:
    text = fields.get(name, "").strip().lower()
    if not text:
        missing.append(name)
        return math.nan
    if name == "portal_model":
        text = text.split("-")[0]
    return float(choices.index(text) if text in choices else len(choices) - 1)


def _text(fields: Mapping[str, str], name: str, missing: list[str]) -> str:
    text = fields.get(name, "").strip()
    if not text:
        missing.append(name)
    return text


def _timestamp_s(fields: Mapping[str, str], missing: list[str]) -> float | None:
    """The crossing's time, from ISO 8601 with a UTC offset; a time without an offset is unreadable."""
    try:
        moment = datetime.fromisoformat(fields.get("timestamp", "").strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        missing.append("timestamp")
        return None
    return moment.timestamp()
