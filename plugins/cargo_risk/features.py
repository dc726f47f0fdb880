"""What the cargo risk model sees of a declaration: the record's own fields, and its history, as of then.

A declaration is judged against history kept in the plugin's keyed state: the HS code's declared unit
values and unit weights (overall and from this origin), the importer's and the declarant's past
declarations, inspections and hits, and the hit rates of transit hubs and origins. History is
point-in-time: a declaration's features use only what was recorded before it (earlier batches, and
earlier declarations of its own batch in time order), and its own contribution is written after.

Counts and sums go into the state in one idempotent call per batch that also reads the history
(``PluginState.read_then_apply_once`` keyed by the frame), so a redelivered frame adds nothing twice.
Inspection outcomes (hit or not, revenue found) are added as they come back, with ``add_outcomes``;
they feed the hit rates.

A field that is missing or does not parse is a missing value (NaN), never a zero, and the declaration
says which fields it lacked. An HS code, origin or party never seen before is a value of its own: its
history counts are 0 and its z-scores missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.core.state import PluginState
from smartcustoms.v1 import frame_pb2

if TYPE_CHECKING:
    from smartcustoms.plugins.cargo_risk import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.cargo_risk._kernels")

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
_NUMBER_FIELDS = ("declared_value_hkd", "weight_kg", "quantity")
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
        numbers = {name: _positive(fields.get(name, "")) for name in _NUMBER_FIELDS}
        at_s = _time_s(fields.get("declared_at", ""))
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
            missing=_missing(fields, numbers, at_s),
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


class DeclarationBatch:
    """A batch of declarations as columns: what ``Declaration`` holds, one array or list per field.

    The plugin parses a frame's records straight into one (``from_records``); the offline tools pass
    ``Declaration`` lists (the constructor). Both give the same columns, and the same features.
    """

    def __init__(self, declarations: Sequence[Declaration]) -> None:
        self.record_ids = [d.record_id for d in declarations]
        self.at_s = np.array([d.at_s for d in declarations], dtype=np.float64)
        self.hs_codes = [d.hs_code for d in declarations]
        self.values_hkd = np.array([d.value_hkd for d in declarations], dtype=np.float64)
        self.weights_kg = np.array([d.weight_kg for d in declarations], dtype=np.float64)
        self.quantities = np.array([d.quantity for d in declarations], dtype=np.float64)
        self.origins = [d.origin for d in declarations]
        self.importers = [d.importer for d in declarations]
        self.declarants = [d.declarant for d in declarations]
        self.routes = [d.route for d in declarations]
        self.missing = [d.missing for d in declarations]

    @classmethod
    def from_records(cls, records: Sequence[frame_pb2.Record]) -> DeclarationBatch:
        """Parsed as ``Declaration.from_record`` parses one record, a field at a time over the batch."""
        batch = cls([])
        maps = [record.fields for record in records]
        raw = {name: [m.get(name, "") for m in maps] for name in (*NEEDED_FIELDS, *OPTIONAL_FIELDS)}
        batch.record_ids = [record.record_id for record in records]
        batch.at_s = np.array([_time_s(text) for text in raw["declared_at"]], dtype=np.float64)
        batch.hs_codes = [text.strip() for text in raw["hs_code"]]
        batch.values_hkd = np.array([_positive(t) for t in raw["declared_value_hkd"]], dtype=np.float64)
        batch.weights_kg = np.array([_positive(t) for t in raw["weight_kg"]], dtype=np.float64)
        batch.quantities = np.array([_positive(t) for t in raw["quantity"]], dtype=np.float64)
        batch.origins = [text.strip().upper() for text in raw["origin"]]
        batch.importers = [text.strip() for text in raw["importer"]]
        batch.declarants = [text.strip() for text in raw["declarant"]]
        batch.routes = [text.strip() for text in raw["route"]]
        batch.missing = [()] * len(maps)
        numbers = (batch.values_hkd, batch.weights_kg, batch.quantities)
        lacking = np.isnan(batch.at_s) | np.isnan(np.stack(numbers)).any(axis=0)  # blank or unparsed
        lacking |= np.array(
            [
                not (h and o and i)
                for h, o, i in zip(batch.hs_codes, batch.origins, batch.importers, strict=True)
            ],
            dtype=bool,
        )
        for i in np.flatnonzero(lacking):
            parsed = {name: float(column[i]) for name, column in zip(_NUMBER_FIELDS, numbers, strict=True)}
            batch.missing[i] = _missing(maps[i], parsed, float(batch.at_s[i]))
        return batch

    def __len__(self) -> int:
        return len(self.record_ids)

    def declaration(self, i: int) -> Declaration:
        """The ``i``-th declaration, as ``Declaration.from_record`` gives it."""
        return Declaration(
            record_id=self.record_ids[i],
            at_s=float(self.at_s[i]),
            hs_code=self.hs_codes[i],
            value_hkd=float(self.values_hkd[i]),
            weight_kg=float(self.weights_kg[i]),
            quantity=float(self.quantities[i]),
            origin=self.origins[i],
            importer=self.importers[i],
            declarant=self.declarants[i],
            route=self.routes[i],
            missing=self.missing[i],
        )

    def stats(self) -> np.ndarray:
        """(n, 3): log unit value, log unit weight, log value per kg (``_STATS``), NaN where missing."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratios = [
                self.values_hkd / self.quantities,
                self.weights_kg / self.quantities,
                self.values_hkd / self.weights_kg,
            ]
        return np.column_stack([_logs(r) for r in ratios]) if len(self) else np.empty((0, 3))


def _missing(fields: Mapping[str, str], numbers: Mapping[str, float], at_s: float) -> tuple[str, ...]:
    """The needed fields a record lacks: blank ones first, then those that do not parse."""
    missing = [name for name in NEEDED_FIELDS if not fields.get(name, "").strip()]
    missing += [name for name, value in numbers.items() if math.isnan(value) and name not in missing]
    if math.isnan(at_s) and "declared_at" not in missing:
        missing.append("declared_at")
    return tuple(missing)


class CargoHistory:
    """Features of declarations from the plugin's keyed state, and the writes that keep it."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    def features(self, declarations: Sequence[Declaration] | DeclarationBatch, token: str) -> np.ndarray:
        """One row of ``FEATURES`` per declaration, in the given order; then records them (once per
        ``token``). Declarations are taken in time order, each seeing the ones before it.

        The batch's history is read and written in one round trip, whatever its size: what the batch
        adds does not depend on what it reads. A token applied before (a redelivered frame, or the
        shadow candidate scoring the frame the live plugin wrote) adds nothing, and what it added then
        is taken back out of the counts it reads, so it sees the history its first delivery saw (but
        for batches written in between). The walk in time order is a compiled loop over the batch's
        columns (``_kernels``).
        """
        batch = declarations if isinstance(declarations, DeclarationBatch) else DeclarationBatch(declarations)
        walk = _BatchWalk(batch)
        increments, minimums = walk.writes()
        values, applied = self.state.read_then_apply_once(
            walk.keys(), f"declared:{token}", increments, minimums, token_ttl_s=TOKEN_TTL_S
        )
        walk.read(values, own_writes_included=not applied)
        return walk.rows()

    def add_outcomes(self, outcomes: Iterable[Outcome], token: str) -> bool:
        """Record inspection outcomes (once per ``token``); False if this token was applied before."""
        return self.change_outcomes(((outcome, None) for outcome in outcomes), token)

    def change_outcomes(self, changes: Iterable[tuple[Outcome, Outcome | None]], token: str) -> bool:
        """Record each ``(outcome, earlier)``: ``outcome`` replaces ``earlier`` (an officer's changed
        decision on the same inspection; None for a first decision), once per ``token``."""
        increments: dict[str, float] = {}
        for outcome, earlier in changes:
            for key, amount in _outcome_increments(outcome).items():
                increments[key] = increments.get(key, 0.0) + amount
            if earlier is not None:
                for key, amount in _outcome_increments(earlier).items():
                    increments[key] = increments.get(key, 0.0) - amount
        changed = {key: amount for key, amount in increments.items() if amount}
        return self.state.apply_once(f"outcomes:{token}", changed, token_ttl_s=TOKEN_TTL_S)


# What the state keeps, per kind of key (key f"{kind}:{entity}:{field}"). Declarations add to the
# first group (counts and sums of the stats), outcomes to the second (inspections, hits, revenue).
_STAT_FIELDS = ("n", *(f"{name}:{part}" for name in _STATS for part in ("n", "s", "s2")))
_FIELDS = {
    "hs": _STAT_FIELDS,  # per HS code
    "ho": _STAT_FIELDS[:4],  # per HS code | origin: its unit value only (the feature the model has)
    "imp": ("n", "insp", "hits", "rev"),  # per importer (and "first", the first time it declared)
    "ih": ("n",),  # per importer | HS code
    "dec": ("n", "insp", "hits"),  # per declarant
    "hub": ("insp", "hits"),  # per transit hub (only declarations through one)
    "orig": ("insp", "hits"),  # per origin
    "all": ("insp", "hits"),  # overall, the one entity ""
}


class _Entities:
    """The distinct entities of one kind in a batch, each declaration's entity as a code."""

    def __init__(self, names: Sequence[str]) -> None:
        index: dict[str, int] = {}
        self.codes = np.array([index.setdefault(name, len(index)) for name in names], dtype=np.int64)
        self.names = list(index)


class _BatchWalk:
    """One batch against the state: what it adds (known before reading), the keys it reads, and what
    each declaration sees: the stored values plus what the declarations before it in the batch added."""

    def __init__(self, batch: DeclarationBatch) -> None:
        self.batch = batch
        b, n = batch, len(batch)
        self.hubs, self.legs, self.first_legs = _routes(b.routes)
        with_hub = [i for i, hub in enumerate(self.hubs) if hub]
        self.with_hub = np.array(with_hub, dtype=np.int64)
        self.entities = {
            "hs": _Entities(b.hs_codes),
            "ho": _Entities([f"{h}|{o}" for h, o in zip(b.hs_codes, b.origins, strict=True)]),
            "imp": _Entities(b.importers),
            "ih": _Entities([f"{i}|{h}" for i, h in zip(b.importers, b.hs_codes, strict=True)]),
            "dec": _Entities(b.declarants),
            "hub": _Entities([self.hubs[i] for i in with_hub]),
            "orig": _Entities(b.origins),
            "all": _Entities([""]),
        }
        self.order = np.argsort(np.where(np.isnan(b.at_s), -math.inf, b.at_s), kind="stable")
        self.stats = b.stats()
        stat_amounts = (
            np.column_stack([np.ones(n), *(c for j in range(3) for c in _stat_amounts(self.stats[:, j]))])
            if n
            else np.empty((0, len(_STAT_FIELDS)))
        )
        counted = np.column_stack([np.ones(n), np.full((n, 3), math.nan)]) if n else np.empty((0, 4))
        self.before: dict[str, np.ndarray] = {}  # per kind: what the batch added before each row
        self.added: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # per kind: totals, where touched
        for kind, amounts in (
            ("hs", stat_amounts),
            ("ho", stat_amounts[:, : len(_FIELDS["ho"])]),
            ("imp", counted),
            ("ih", counted[:, :1]),
            ("dec", counted[:, :3]),
        ):
            self._walk(kind, amounts)
        self.first_before = np.full(n, math.nan)  # the importer's first time in the batch before it
        self.batch_first = np.full(len(self.entities["imp"].names), math.nan)
        kernels._running_minimums(
            self.order, self.entities["imp"].codes, b.at_s, self.batch_first, self.first_before
        )
        self.stored: dict[str, np.ndarray] = {}
        self.stored_first = np.empty(0)

    def _walk(self, kind: str, amounts: np.ndarray) -> None:
        codes = self.entities[kind].codes
        totals = np.zeros((len(self.entities[kind].names), amounts.shape[1]))
        before = np.empty(amounts.shape)
        touched = kernels._running_sums(self.order, codes, np.ascontiguousarray(amounts), before, totals)
        self.before[kind] = before
        self.added[kind] = (totals, touched)

    def keys(self) -> list[str]:
        """Every key the batch reads: by kind in ``_FIELDS`` order ("all" last), then first times."""
        keys = [
            f"{kind}:{entity}:{field}"
            for kind, fields in _FIELDS.items()
            if kind != "all"
            for entity in self.entities[kind].names
            for field in fields
        ]
        keys += [f"all:{field}" for field in _FIELDS["all"]]  # one entity: no name in its keys
        return keys + [f"imp:{entity}:first" for entity in self.entities["imp"].names]

    def read(self, values: Sequence[str | None], own_writes_included: bool = False) -> None:
        """The stored values of ``keys()``: 0 where none, and NaN for an importer never seen (no first
        time). With ``own_writes_included`` (the batch's token was applied before) what the batch adds
        is taken back out of its counts. A first time the batch lowered needs nothing: the batch's own
        earlier declarations give the same minimum."""
        at = 0
        for kind, fields in _FIELDS.items():
            count = len(self.entities[kind].names) * len(fields)
            numbers = [float(v) if v else 0.0 for v in values[at : at + count]]
            self.stored[kind] = np.array(numbers, dtype=np.float64).reshape(-1, len(fields))
            at += count
        if own_writes_included:
            for kind, (totals, _) in self.added.items():
                self.stored[kind] = self.stored[kind] - totals
        self.stored_first = np.array([float(v) if v else math.nan for v in values[at:]], dtype=np.float64)

    def rows(self) -> np.ndarray:
        """Each declaration's features as of itself, walking the batch in time order."""
        seen = {
            kind: self.stored[kind][self.entities[kind].codes] + before
            for kind, before in self.before.items()
        }
        first = np.fmin(self.stored_first[self.entities["imp"].codes], self.first_before)  # NaN: none
        return self._features(self.stats, seen, first)

    def _features(self, stats: np.ndarray, seen: Mapping[str, np.ndarray], first: np.ndarray) -> np.ndarray:
        b, n = self.batch, len(self.batch)
        all_insp, all_hits = self.stored["all"][0]
        prior = _rate(all_hits, all_insp, DEFAULT_HIT_RATE, 1.0)
        imp = self.stored["imp"][self.entities["imp"].codes]
        dec = self.stored["dec"][self.entities["dec"].codes]
        orig = self.stored["orig"][self.entities["orig"].codes]
        hub_rate = np.full(n, math.nan)
        if len(self.with_hub):
            hub = self.stored["hub"][self.entities["hub"].codes]
            hub_rate[self.with_hub] = _rate(hub[:, 1], hub[:, 0], prior, PRIOR_WEIGHT)
        chapters = {
            code: float(code[:2]) if code[:2].isdigit() else math.nan for code in self.entities["hs"].names
        }
        legs = self.legs
        has_legs = legs > 0
        not_first = np.array(
            [
                (1.0 if leg[:2].upper() != origin else 0.0) if leg and origin else math.nan
                for leg, origin in zip(self.first_legs, b.origins, strict=True)
            ]
        )
        with np.errstate(invalid="ignore"):
            age_days = np.maximum(0.0, (b.at_s - first) / _DAY_S)
        age_days[np.isnan(first) | np.isnan(b.at_s)] = 0.0
        columns = [
            _logs(b.values_hkd),
            _logs(b.weights_kg),
            _logs(b.quantities),
            stats[:, 0],
            stats[:, 1],
            stats[:, 2],
            np.array([chapters[code] for code in b.hs_codes]),
            seen["hs"][:, 0],
            _z(seen["hs"], 1, stats[:, 0]),
            _z(seen["hs"], 4, stats[:, 1]),
            _z(seen["hs"], 7, stats[:, 2]),
            seen["ho"][:, 0],
            _z(seen["ho"], 1, stats[:, 0]),
            seen["imp"][:, 0],
            age_days,
            imp[:, 1],
            _rate(imp[:, 2], imp[:, 1], prior, PRIOR_WEIGHT),
            np.log1p(imp[:, 3]),
            seen["ih"][:, 0],
            seen["dec"][:, 0],
            _rate(dec[:, 2], dec[:, 1], prior, PRIOR_WEIGHT),
            np.where(has_legs, legs, math.nan),
            np.where(has_legs, np.array([1.0 if hub else 0.0 for hub in self.hubs]), math.nan),
            not_first,
            hub_rate,
            _rate(orig[:, 1], orig[:, 0], prior, PRIOR_WEIGHT),
        ]
        return np.column_stack(columns) if n else np.empty((0, len(FEATURES)))

    def writes(self) -> tuple[dict[str, float], dict[str, float]]:
        """The batch's increments (what it added to each counter) and its importers' first times."""
        increments: dict[str, float] = {}
        for kind, (totals, touched) in self.added.items():
            fields, names = _FIELDS[kind], self.entities[kind].names
            codes, columns = (index.tolist() for index in np.nonzero(touched))
            keys = [f"{kind}:{names[c]}:{fields[j]}" for c, j in zip(codes, columns, strict=True)]
            increments.update(zip(keys, totals[touched].tolist(), strict=True))
        names = self.entities["imp"].names
        minimums = {
            f"imp:{names[c]}:first": float(self.batch_first[c])
            for c in np.flatnonzero(~np.isnan(self.batch_first))
        }
        return increments, minimums


def _stat_amounts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What one declaration adds to a stat's count, sum and sum of squares (NaN: nothing)."""
    return np.where(np.isnan(values), math.nan, 1.0), values, values * values


def _routes(routes: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]]:
    """Each route's transit hub ("" if none), number of legs, and first leg ("" if no route)."""
    parsed: dict[str, tuple[str, int, str]] = {}
    for route in routes:
        if route not in parsed:
            legs = [leg.strip() for leg in route.split(">") if leg.strip()] if route else []
            parsed[route] = (">".join(legs[1:-1]), len(legs), legs[0] if legs else "")
    hubs = [parsed[route][0] for route in routes]
    counts = np.array([parsed[route][1] for route in routes], dtype=np.float64)
    return hubs, counts, [parsed[route][2] for route in routes]


def _logs(values: np.ndarray) -> np.ndarray:
    """The natural log where positive and finite, NaN elsewhere: a ratio of two valid fields that
    overflows (1e-320 kg) is as missing as one that underflows, never an infinite sum in the history."""
    out = np.full(values.shape, math.nan)
    np.log(values, out=out, where=(values > 0) & (values < math.inf))
    return out


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


def _z(seen: np.ndarray, column: int, values: np.ndarray) -> np.ndarray:
    """z-scores of ``values`` against the stat whose count, sum and sum of squares are ``seen``'s
    columns ``column`` .. ``column + 2``; NaN with fewer than ``MIN_HISTORY`` or no value."""
    n, total, squares = seen[:, column], seen[:, column + 1], seen[:, column + 2]
    enough = (n >= MIN_HISTORY) & ~np.isnan(values)
    safe_n = np.where(enough, n, 1.0)
    mean = total / safe_n
    variance = np.maximum(squares / safe_n - mean * mean, 0.0)
    z = (values - mean) / np.sqrt(variance + 0.01)  # + (0.1 in log units)^2: a floor on the spread
    return np.where(enough, z, math.nan)


def _rate(hits: Any, inspected: Any, prior: float, weight: float) -> Any:
    """Hits per inspection, pulled towards ``prior`` as if ``weight`` more inspections had it."""
    return (hits + weight * prior) / (inspected + weight)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) and value > 0 else math.nan


def _log(value: float) -> float:
    return math.log(value) if 0 < value < math.inf else math.nan  # NaN compares False: NaN stays NaN


def _time_s(text: str) -> float:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return math.nan
    return stamp.timestamp() if stamp.tzinfo is not None else math.nan
