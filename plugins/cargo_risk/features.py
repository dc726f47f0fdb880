"""What the cargo risk model sees of a declaration: the record's own fields, and its history, as of then.

A declaration is judged against history kept in the plugin's keyed state: the HS code's declared unit
values and unit weights (overall and from this origin), the importer's and the declarant's past
declarations, inspections and hits, and the hit rates of transit hubs and origins. History is
point-in-time: a declaration's features use only what was recorded before it (earlier batches, and
earlier declarations of its own batch in time order), and its own contribution is written after.

Counts and sums go into the state in one idempotent write per batch (``PluginState.apply_once`` keyed
by the frame), so a redelivered frame adds nothing twice. Inspection outcomes (hit or not, revenue
found) are added as they come back, with ``add_outcomes``; they feed the hit rates.

A field that is missing or does not parse is a missing value (NaN), never a zero, and the declaration
says which fields it lacked. An HS code, origin or party never seen before is a value of its own: its
history counts are 0 and its z-scores missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from smartcustoms.core.state import PluginState
from smartcustoms.v1 import frame_pb2

FEATURES = (
    "log_value_hkd",
    "log_weight_kg",
    "log_quantity",
    "log_unit_value",
    "log_unit_weight",
    "log_value_per_kg",
    "hs_chapter",
    "hs_seen",
    "unit_value_z",
    "unit_weight_z",
    "value_per_kg_z",
    "hs_origin_seen",
    "unit_value_z_origin",
    "importer_seen",
    "importer_age_days",
    "importer_inspected",
    "importer_hit_rate",
    "importer_log_revenue_found",
    "importer_hs_seen",
    "declarant_seen",
    "declarant_hit_rate",
    "route_legs",
    "via_transit_hub",
    "origin_not_first_leg",
    "hub_hit_rate",
    "origin_hit_rate",
)
NEEDED_FIELDS = (
    "declared_at",
    "hs_code",
    "declared_value_hkd",
    "weight_kg",
    "quantity",
    "origin",
    "importer",
)
OPTIONAL_FIELDS = ("declarant", "route")
MIN_HISTORY = 3  # declarations of an HS code before its z-scores mean anything
PRIOR_WEIGHT = 5.0  # inspections a party's hit rate is pulled towards the overall rate by
DEFAULT_HIT_RATE = 0.05  # the overall hit rate before any outcome came back
TOKEN_TTL_S = 14 * 86400.0  # how long a frame's write is remembered against redelivery
_DAY_S = 86400.0
_STATS = ("uv", "uw", "vk")  # log unit value, log unit weight, log value per kg


@dataclass(frozen=True)
class Declaration:
    """The fields of one cargo declaration the model uses, parsed; NaN or "" where missing."""

    record_id: str
    at_s: float
    hs_code: str
    value_hkd: float
    weight_kg: float
    quantity: float
    origin: str
    importer: str
    declarant: str
    route: str
    missing: tuple[str, ...]  # needed fields absent or unparsable: the score is partial

    @classmethod
    def from_record(cls, record: frame_pb2.Record) -> Declaration:
        fields = record.fields
        missing = [name for name in NEEDED_FIELDS if not fields.get(name, "").strip()]
        numbers = {}
        for name in ("declared_value_hkd", "weight_kg", "quantity"):
            numbers[name] = _positive(fields.get(name, ""))
            if math.isnan(numbers[name]) and name not in missing:
                missing.append(name)
        at_s = _time_s(fields.get("declared_at", ""))
        if math.isnan(at_s) and "declared_at" not in missing:
            missing.append("declared_at")
        return cls(
            record_id=record.record_id,
            at_s=at_s,
            hs_code=fields.get("hs_code", "").strip(),
            value_hkd=numbers["declared_value_hkd"],
            weight_kg=numbers["weight_kg"],
            quantity=numbers["quantity"],
            origin=fields.get("origin", "").strip().upper(),
            importer=fields.get("importer", "").strip(),
            declarant=fields.get("declarant", "").strip(),
            route=fields.get("route", "").strip(),
            missing=tuple(missing),
        )

    @property
    def legs(self) -> list[str]:
        return [leg.strip() for leg in self.route.split(">") if leg.strip()] if self.route else []

    @property
    def hub(self) -> str:
        """The transit legs between origin port and entry point ("" if direct or no route)."""
        return ">".join(self.legs[1:-1])

    def stats(self) -> dict[str, float]:
        """Log unit value, log unit weight and log value per kg (NaN where an input is missing)."""
        return {
            "uv": _log(self.value_hkd / self.quantity),
            "uw": _log(self.weight_kg / self.quantity),
            "vk": _log(self.value_hkd / self.weight_kg),
        }


@dataclass(frozen=True)
class Outcome:
    """What an inspection of a declaration found: ``hit`` (illicit) and the revenue it recovered."""

    declaration: Declaration
    hit: bool
    revenue_hkd: float = 0.0


class CargoHistory:
    """Features of declarations from the plugin's keyed state, and the writes that keep it."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    def features(self, declarations: Sequence[Declaration], token: str) -> np.ndarray:
        """One row of ``FEATURES`` per declaration, in the given order; then records them (once per
        ``token``). Declarations are taken in time order, each seeing the ones before it."""
        counts = _Counts(self.state, {key for d in declarations for key in _keys(d)})
        rows = np.full((len(declarations), len(FEATURES)), np.nan)
        order = sorted(range(len(declarations)), key=lambda i: _sort_time(declarations[i]))
        for index in order:
            rows[index] = _row(declarations[index], counts)
            counts.record(declarations[index])
        self.state.apply_once(
            f"declared:{token}", counts.increments, counts.minimums, token_ttl_s=TOKEN_TTL_S
        )
        return rows

    def add_outcomes(self, outcomes: Iterable[Outcome], token: str) -> bool:
        """Record inspection outcomes (once per ``token``); False if this token was applied before."""
        increments: dict[str, float] = {}
        for outcome in outcomes:
            for key, amount in _outcome_increments(outcome).items():
                increments[key] = increments.get(key, 0.0) + amount
        return self.state.apply_once(f"outcomes:{token}", increments, token_ttl_s=TOKEN_TTL_S)


class _Counts:
    """The state's counters for one batch, read in one round trip, updated as the batch is walked."""

    def __init__(self, state: PluginState, keys: set[str]) -> None:
        names = sorted(keys | {"all:insp", "all:hits"})
        self.values = {k: float(v) for k, v in zip(names, state.get_many(names), strict=True) if v}
        self.increments: dict[str, float] = {}
        self.minimums: dict[str, float] = {}

    def get(self, key: str) -> float:
        return self.values.get(key, 0.0)

    def add(self, key: str, amount: float) -> None:
        self.values[key] = self.get(key) + amount
        self.increments[key] = self.increments.get(key, 0.0) + amount

    def lower(self, key: str, value: float) -> None:
        if key not in self.values or value < self.values[key]:
            self.values[key] = self.minimums[key] = value

    def record(self, d: Declaration) -> None:
        stats = d.stats()
        for prefix in (f"hs:{d.hs_code}", f"ho:{d.hs_code}|{d.origin}"):
            self.add(prefix + ":n", 1.0)
            for name, value in stats.items():
                if not math.isnan(value):
                    self.add(f"{prefix}:{name}:n", 1.0)
                    self.add(f"{prefix}:{name}:s", value)
                    self.add(f"{prefix}:{name}:s2", value * value)
        self.add(f"imp:{d.importer}:n", 1.0)
        self.add(f"ih:{d.importer}|{d.hs_code}:n", 1.0)
        self.add(f"dec:{d.declarant}:n", 1.0)
        if not math.isnan(d.at_s):
            self.lower(f"imp:{d.importer}:first", d.at_s)


def _keys(d: Declaration) -> list[str]:
    keys = [f"imp:{d.importer}:first", f"ih:{d.importer}|{d.hs_code}:n"]
    for prefix in (f"hs:{d.hs_code}", f"ho:{d.hs_code}|{d.origin}"):
        keys.append(prefix + ":n")
        keys += [f"{prefix}:{name}:{part}" for name in _STATS for part in ("n", "s", "s2")]
    for prefix in (f"imp:{d.importer}", f"dec:{d.declarant}"):
        keys += [f"{prefix}:{part}" for part in ("n", "insp", "hits", "rev")]
    keys += [f"hub:{d.hub}:{part}" for part in ("insp", "hits")]
    keys += [f"orig:{d.origin}:{part}" for part in ("insp", "hits")]
    return keys


def _row(d: Declaration, counts: _Counts) -> list[float]:
    stats = d.stats()
    legs = d.legs
    prior = _rate(counts.get("all:hits"), counts.get("all:insp"), DEFAULT_HIT_RATE, 1.0)
    first_s = counts.values.get(f"imp:{d.importer}:first")
    return [
        _log(d.value_hkd),
        _log(d.weight_kg),
        _log(d.quantity),
        stats["uv"],
        stats["uw"],
        stats["vk"],
        float(d.hs_code[:2]) if d.hs_code[:2].isdigit() else math.nan,
        counts.get(f"hs:{d.hs_code}:n"),
        _z(counts, f"hs:{d.hs_code}:uv", stats["uv"]),
        _z(counts, f"hs:{d.hs_code}:uw", stats["uw"]),
        _z(counts, f"hs:{d.hs_code}:vk", stats["vk"]),
        counts.get(f"ho:{d.hs_code}|{d.origin}:n"),
        _z(counts, f"ho:{d.hs_code}|{d.origin}:uv", stats["uv"]),
        counts.get(f"imp:{d.importer}:n"),
        0.0 if first_s is None or math.isnan(d.at_s) else max(0.0, (d.at_s - first_s) / _DAY_S),
        counts.get(f"imp:{d.importer}:insp"),
        _party_rate(counts, f"imp:{d.importer}", prior),
        math.log1p(counts.get(f"imp:{d.importer}:rev")),
        counts.get(f"ih:{d.importer}|{d.hs_code}:n"),
        counts.get(f"dec:{d.declarant}:n"),
        _party_rate(counts, f"dec:{d.declarant}", prior),
        float(len(legs)) if legs else math.nan,
        (1.0 if d.hub else 0.0) if legs else math.nan,
        (1.0 if legs[0][:2].upper() != d.origin else 0.0) if legs and d.origin else math.nan,
        _party_rate(counts, f"hub:{d.hub}", prior) if d.hub else math.nan,
        _party_rate(counts, f"orig:{d.origin}", prior),
    ]


def _outcome_increments(outcome: Outcome) -> Mapping[str, float]:
    d, hit = outcome.declaration, 1.0 if outcome.hit else 0.0
    increments = {"all:insp": 1.0, "all:hits": hit}
    for prefix in (f"imp:{d.importer}", f"dec:{d.declarant}", f"orig:{d.origin}"):
        increments |= {f"{prefix}:insp": 1.0, f"{prefix}:hits": hit}
    if d.hub:
        increments |= {f"hub:{d.hub}:insp": 1.0, f"hub:{d.hub}:hits": hit}
    for prefix in (f"imp:{d.importer}", f"dec:{d.declarant}"):
        increments[f"{prefix}:rev"] = max(0.0, outcome.revenue_hkd)
    return increments


def _z(counts: _Counts, prefix: str, value: float) -> float:
    n = counts.get(prefix + ":n")
    if n < MIN_HISTORY or math.isnan(value):
        return math.nan
    mean = counts.get(prefix + ":s") / n
    variance = max(counts.get(prefix + ":s2") / n - mean * mean, 0.0)
    return (value - mean) / math.sqrt(variance + 0.01)  # + (0.1 in log units)^2: a floor on the spread


def _party_rate(counts: _Counts, prefix: str, prior: float) -> float:
    return _rate(counts.get(prefix + ":hits"), counts.get(prefix + ":insp"), prior, PRIOR_WEIGHT)


def _rate(hits: float, inspected: float, prior: float, weight: float) -> float:
    """Hits per inspection, pulled towards ``prior`` as if ``weight`` more inspections had it."""
    return (hits + weight * prior) / (inspected + weight)


def _sort_time(d: Declaration) -> float:
    return -math.inf if math.isnan(d.at_s) else d.at_s


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) and value > 0 else math.nan


def _log(value: float) -> float:
    return math.log(value) if value > 0 else math.nan  # NaN > 0 is False: NaN stays NaN


def _time_s(text: str) -> float:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return math.nan
    return stamp.timestamp() if stamp.tzinfo is not None else math.nan
