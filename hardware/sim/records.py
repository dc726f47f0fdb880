"""Cargo declaration simulator for the cargo big data pilot: mostly honest declarations, a few illicit ones.

A declaration states goods (HK HS code), quantity, weight, value, origin, route and the parties. Honest
declarations follow each commodity's typical unit value and unit weight with realistic spread. A fraction
``illicit_rate`` is illicit, following one of three patterns seen in customs enforcement:

* undervaluation: valuable goods declared at 5-30% of their worth;
* misdeclaration: cigarettes, phones or medicines declared as cheap goods (paper boxes, plastic articles,
  T-shirts, toys) in a small count, so the weighed cargo is 2-5 times heavier per declared unit than
  the declared goods are;
* transshipment: goods routed through a transit hub whose country is declared as their origin.

Illicit declarations lean on a small pool of shell importers, but honest ones sometimes use them and
also travel via hubs, so no single field gives the answer away. ``illicit`` ("0"/"1"),
``illicit_pattern`` and ``duty_at_stake_hkd`` (Hong Kong duty the declaration evades: cigarettes and
spirits only, 0 when honest) are ground truth for evaluation, not for detectors.

Cross-boundary private-car crossings (``CrossingSimulator``, records of kind "vehicle_crossing") are
drawn from a fleet of cars with two plates (Hong Kong and Guangdong), each with its own habits: how often
it crosses, how many drivers use it, how long it stays across the boundary. A small part of the fleet
smuggles; their cars cross more, return the same day more, share drivers and have been caught before,
but honest cars do all of these too. A fraction ``illicit_rate`` of crossings carries cigarettes, liquor
above the allowance, fuel in a modified tank, or controlled goods (no duty), with the duty at stake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import numpy as np

from smartcustoms.core.types import RECORD_KIND_KEY, Modality
from smartcustoms.v1 import frame_pb2

from ._frames import message_frame
from .duty import (
    STICKS_PER_CARTON,
    TRAVELLER_LIQUOR_ALLOWANCE_LITRES,
    UNLEADED_PETROL_DUTY_HKD_PER_LITRE,
    cigarette_duty_hkd,
    liquor_duty_hkd,
)

RECORD_KIND = "cargo_declaration"
DECLARATION_EPOCH_S = 1_735_689_600  # 2025-01-01T00:00:00Z
DECLARATION_INTERVAL_S = 20.0  # mean time between declarations: about 4,300 a day
ILLICIT_PATTERNS = ("undervaluation", "misdeclaration", "transshipment")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Commodity:
    hs_code: str
    description: str
    unit: str
    unit_value_hkd: float
    unit_weight_kg: float
    quantity_range: tuple[int, int]
    origins: tuple[str, ...]


COMMODITIES = (
    Commodity("85171300", "smartphones", "piece", 3500, 0.35, (50, 2000), ("CN", "VN", "IN", "KR")),
    Commodity("84713000", "portable computers", "piece", 6000, 2.5, (20, 500), ("CN", "VN", "TW")),
    Commodity(
        "85423100", "processors and controllers", "piece", 80, 0.005, (1000, 50000), ("TW", "KR", "MY")
    ),
    Commodity("61091000", "cotton T-shirts", "piece", 40, 0.2, (500, 20000), ("CN", "BD", "VN", "KH")),
    Commodity("64039900", "leather footwear", "pair", 250, 1.2, (100, 5000), ("CN", "VN", "IT", "ID")),
    Commodity(
        "22042100", "wine in bottles of 2 l or less", "bottle", 150, 1.3, (60, 6000), ("FR", "AU", "IT", "CL")
    ),
    Commodity("22083000", "whiskies", "bottle", 400, 1.4, (60, 3000), ("GB", "JP", "US")),
    Commodity("30049000", "medicaments, packaged", "box", 120, 0.1, (100, 10000), ("CH", "DE", "IN", "US")),
    Commodity(
        "33049900", "beauty and skin-care preparations", "piece", 90, 0.15, (200, 10000), ("KR", "JP", "FR")
    ),
    Commodity("91021100", "wrist-watches", "piece", 800, 0.15, (20, 1000), ("CH", "JP", "CN")),
    Commodity("42022100", "handbags, leather", "piece", 900, 0.8, (20, 2000), ("IT", "FR", "CN")),
    Commodity(
        "03061700", "frozen shrimps and prawns", "kg", 90, 1.0, (1000, 20000), ("VN", "TH", "IN", "EC")
    ),
    Commodity("95030000", "toys", "piece", 35, 0.3, (500, 20000), ("CN", "VN")),
    Commodity(
        "24022000", "cigarettes containing tobacco", "carton", 400, 0.28, (10, 2000), ("CN", "ID", "JP")
    ),
    Commodity("48191000", "cartons and boxes of corrugated paper", "piece", 3, 0.25, (1000, 50000), ("CN",)),
    Commodity("39269090", "other articles of plastics", "piece", 10, 0.2, (500, 30000), ("CN", "MY", "TH")),
    Commodity("94036000", "wooden furniture", "piece", 1200, 25.0, (10, 300), ("CN", "MY", "ID", "VN")),
)
_BY_CODE = {c.hs_code: c for c in COMMODITIES}
_VALUABLE = ("85171300", "84713000", "22083000", "22042100", "91021100", "42022100", "33049900")
_SMUGGLED = ("24022000", "85171300", "30049000")
_COVER = ("48191000", "39269090", "61091000", "95030000")

# Origin ports; road entry only from the mainland.
_PORTS = {
    "CN": ("SZX", "CAN", "SHA", "NGB"),
    "VN": ("SGN", "HPH"),
    "IN": ("BOM", "MAA"),
    "KR": ("PUS", "ICN"),
    "TW": ("TPE", "KHH"),
    "MY": ("PKG", "PEN"),
    "BD": ("CGP",),
    "KH": ("PNH",),
    "IT": ("MXP", "GOA"),
    "ID": ("JKT", "SUB"),
    "FR": ("CDG", "LEH"),
    "AU": ("SYD", "MEL"),
    "CL": ("SAI",),
    "GB": ("LHR", "FXT"),
    "JP": ("TYO", "OSA"),
    "US": ("LAX", "JFK"),
    "CH": ("ZRH",),
    "DE": ("HAM", "FRA"),
    "TH": ("BKK", "LCH"),
    "EC": ("GYE",),
}
_TRANSIT_HUBS = ("AE-DXB", "SG-SIN", "MY-PKG", "KH-PNH", "VN-HPH")
_ENTRIES = {"sea": "HK-KWC", "air": "HK-HKG", "road": "HK-LMC"}  # Kwai Chung, airport, Lok Ma Chau
_NAME_WORDS = (
    "Golden",
    "Harbour",
    "Pearl",
    "Dragon",
    "Victoria",
    "Kowloon",
    "Jade",
    "Lucky",
    "Eastern",
    "Pacific",
    "Orient",
    "Star",
    "Ocean",
    "Sun",
    "Wing",
    "Fortune",
    "Grand",
    "Silver",
    "Prosperity",
    "Union",
    "Asia",
    "Tai",
    "Ming",
    "Hung",
    "Fook",
    "Wah",
    "Kwong",
    "Cheung",
    "Tak",
    "Lung",
)
_COMPANY_SUFFIXES = ("Trading Co. Ltd", "Import & Export Ltd", "Holdings (HK) Ltd", "Enterprise Ltd")


class CargoDeclarationSimulator:
    """Deterministic batches of cargo declarations: the same (seed, index) gives the same batch."""

    def __init__(self, seed: int, illicit_rate: float = 0.03) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if not 0.0 <= illicit_rate <= 1.0:
            raise ValueError("illicit_rate must be within [0, 1]")
        self.seed, self.illicit_rate = seed, illicit_rate
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
        self.importers = _company_names(rng, 300, _COMPANY_SUFFIXES)
        self.shell_importers = _company_names(rng, 12, ("Trading Ltd", "Global Ltd"))
        self.declarants = _company_names(rng, 40, ("Customs Brokerage Ltd", "Freight Forwarding Ltd"))

    def batch(self, index: int, size: int = 100) -> frame_pb2.RecordBatch:
        """Batch number ``index`` of ``size`` declarations."""
        if index < 0 or size < 0:
            raise ValueError("index and size must be non-negative")
        rng = np.random.default_rng([self.seed, index])
        records = [self._declaration(rng, f"cd-{self.seed}-{index}-{i}") for i in range(size)]
        # Lodged in time order: their own generator, so adding times changed no other field.
        clock = np.random.default_rng([self.seed, index, 1])
        start_s = DECLARATION_EPOCH_S + index * size * DECLARATION_INTERVAL_S
        times = start_s + np.sort(clock.uniform(0, size * DECLARATION_INTERVAL_S, size))
        for record, time_s in zip(records, times, strict=True):
            record.fields["declared_at"] = _hk_time(float(time_s))
        return frame_pb2.RecordBatch(records=records)

    def _declaration(self, rng: np.random.Generator, record_id: str) -> frame_pb2.Record:
        pattern = _pick(rng, ILLICIT_PATTERNS) if rng.random() < self.illicit_rate else ""
        goods = _goods(rng, pattern)
        low, high = goods.quantity_range
        quantity = int(np.exp(rng.uniform(np.log(low), np.log(high))))
        value = quantity * goods.unit_value_hkd * rng.lognormal(0.0, 0.25)
        weight = quantity * goods.unit_weight_kg * rng.lognormal(0.0, 0.1) + rng.uniform(5, 50)
        declared, true_quantity, true_value = goods, quantity, value
        if pattern == "undervaluation":
            value *= rng.uniform(0.05, 0.3)
        elif pattern == "misdeclaration":
            declared = _BY_CODE[_pick(rng, _COVER)]
            quantity = max(
                1, int(weight / declared.unit_weight_kg * rng.uniform(0.2, 0.5))
            )  # a small invoice
            value = quantity * declared.unit_value_hkd * rng.lognormal(0.0, 0.25)
        origin = _pick(rng, goods.origins)
        hub = _pick(rng, _TRANSIT_HUBS) if pattern == "transshipment" or rng.random() < 0.08 else ""
        route = _route(rng, origin, hub)
        if pattern == "transshipment":  # the hub's country declared as origin
            origin = hub[:2]
        importers = self.shell_importers if rng.random() < (0.7 if pattern else 0.01) else self.importers
        at_stake = _duty_at_stake(goods, true_quantity, true_value, declared, quantity, value)
        return frame_pb2.Record(
            record_id=record_id,
            kind=RECORD_KIND,
            fields={
                "hs_code": declared.hs_code,
                "description": declared.description,
                "declared_value_hkd": f"{value:.2f}",
                "weight_kg": f"{weight:.1f}",
                "quantity": str(quantity),
                "unit": declared.unit,
                "origin": origin,
                "importer": _pick(rng, importers),
                "declarant": _pick(rng, self.declarants),
                "route": route,
                "illicit": "1" if pattern else "0",
                "illicit_pattern": pattern,
                "duty_at_stake_hkd": f"{at_stake:.2f}",
            },
        )


def _cargo_duty_hkd(goods: Commodity, quantity: int, value_hkd: float) -> float:
    """Hong Kong duty on a consignment: cigarettes per stick, spirits per bottle; nothing else is dutiable."""
    if goods.hs_code == "24022000":
        return cigarette_duty_hkd(quantity * STICKS_PER_CARTON)
    if goods.hs_code == "22083000":  # whisky, 40%, 70 cl bottles
        return quantity * liquor_duty_hkd(40.0, 700, value_hkd / max(quantity, 1))
    return 0.0


def _duty_at_stake(
    goods: Commodity,
    quantity: int,
    value: float,
    declared: Commodity,
    declared_quantity: int,
    declared_value: float,
) -> float:
    """Duty the declaration evades: duty on what is shipped less duty on what is declared (0 when honest)."""
    owed = _cargo_duty_hkd(goods, quantity, value)
    return max(0.0, owed - _cargo_duty_hkd(declared, declared_quantity, declared_value))


def _goods(rng: np.random.Generator, pattern: str) -> Commodity:
    """What is really shipped: any commodity when honest, valuable or smuggled goods when illicit."""
    if not pattern:
        return _pick(rng, COMMODITIES)
    return _BY_CODE[_pick(rng, _SMUGGLED if pattern == "misdeclaration" else _VALUABLE)]


def _route(rng: np.random.Generator, origin: str, hub: str) -> str:
    """Legs joined by '>': origin port, optional transit hub, Hong Kong entry point."""
    mode = _pick(rng, ("road", "sea", "air") if origin == "CN" and not hub else ("sea", "air"))
    legs = [f"{origin}-{_pick(rng, _PORTS[origin])}", *([hub] if hub and not hub.startswith(origin) else [])]
    return ">".join([*legs, _ENTRIES[mode]])


def _pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    """One item, uniformly (much cheaper than Generator.choice on a Python sequence)."""
    return items[int(rng.integers(len(items)))]


def _company_names(rng: np.random.Generator, count: int, suffixes: tuple[str, ...]) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        first, second = rng.choice(_NAME_WORDS, 2, replace=False)
        names.add(f"{first} {second} {_pick(rng, suffixes)}")
    return sorted(names)


def to_frame(batch: frame_pb2.RecordBatch, source_id: str, sequence: int) -> frame_pb2.Frame:
    """A MODALITY_RECORD frame whose payload is the serialized RecordBatch (kind from its first record)."""
    return message_frame(
        batch,
        modality=Modality.RECORD,
        source_id=source_id,
        sequence=sequence,
        metadata={
            RECORD_KIND_KEY: batch.records[0].kind if batch.records else RECORD_KIND,
            "record_count": str(len(batch.records)),
        },
    )


# --------------------------------------------------------------------------- cross-boundary private cars

CROSSING_KIND = "vehicle_crossing"
CROSSING_PATTERNS = ("cigarettes", "liquor", "hydrocarbon_oil", "controlled_goods")
CONTROL_POINTS = ("lok-ma-chau", "man-kam-to", "sha-tau-kok", "shenzhen-bay", "heung-yuen-wai", "hzmb")
# (make and model, the ``vehicle`` portal simulator model that looks like it)
CAR_MODELS = (
    ("Toyota Alphard", "mpv-1"),
    ("Toyota Vellfire", "mpv-1"),
    ("Mercedes-Benz V-Class", "mpv-1"),
    ("Honda Odyssey", "mpv-1"),
    ("Toyota Camry", "sedan-1"),
    ("Mercedes-Benz E-Class", "sedan-1"),
    ("BMW 5 Series", "sedan-1"),
    ("Tesla Model Y", "suv-1"),
    ("Lexus RX", "suv-1"),
    ("Toyota Hiace", "van-1"),
)
SMUGGLING_FLEET_SHARE = 0.03
CROSSING_EPOCH_S = 1_735_689_600  # 2025-01-01T00:00:00Z
CROSSING_INTERVAL_S = 12.0  # mean time between crossings in the stream
_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O or Q on Hong Kong plates


@dataclass(frozen=True, slots=True)
class _Car:
    plate_hk: str
    plate_mainland: str
    model: tuple[str, str]
    owner_type: str
    registered_days: int
    crossings_per_30d: float
    drivers: int
    hours_across: float
    smuggler: bool
    driver_hashes: tuple[str, ...]


class CrossingSimulator:
    """Deterministic batches of private-car crossings: the same (seed, index) gives the same batch."""

    def __init__(self, seed: int, illicit_rate: float = 0.03, fleet_size: int = 2000) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if not 0.0 <= illicit_rate <= 1.0:
            raise ValueError("illicit_rate must be within [0, 1]")
        if fleet_size < 40:
            raise ValueError("fleet_size must be at least 40")
        self.seed, self.illicit_rate = seed, illicit_rate
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
        smugglers = max(1, round(SMUGGLING_FLEET_SHARE * fleet_size))
        self.fleet = [_car(rng, seed, number, number < smugglers) for number in range(fleet_size)]
        self._smugglers, self._honest = self.fleet[:smugglers], self.fleet[smugglers:]
        activity = np.cumsum([car.crossings_per_30d for car in self._honest])
        self._honest_cumulative = activity / activity[-1]  # busy cars cross more often

    def batch(self, index: int, size: int = 100) -> frame_pb2.RecordBatch:
        """Batch number ``index`` of ``size`` crossings, in time order."""
        if index < 0 or size < 0:
            raise ValueError("index and size must be non-negative")
        rng = np.random.default_rng([self.seed, index, 2])
        start_s = CROSSING_EPOCH_S + index * size * CROSSING_INTERVAL_S
        times = start_s + np.sort(rng.uniform(0, size * CROSSING_INTERVAL_S, size))
        records = [self._crossing(rng, f"vc-{self.seed}-{index}-{i}", float(t)) for i, t in enumerate(times)]
        return frame_pb2.RecordBatch(records=records)

    def _crossing(self, rng: np.random.Generator, record_id: str, time_s: float) -> frame_pb2.Record:
        pattern = _pick(rng, CROSSING_PATTERNS) if rng.random() < self.illicit_rate else ""
        from_smugglers = rng.random() < (0.75 if pattern else 0.02)
        if from_smugglers:
            car = _pick(rng, self._smugglers)
        else:
            drawn = int(np.searchsorted(self._honest_cumulative, rng.random(), side="right"))
            car = self._honest[min(drawn, len(self._honest) - 1)]
        rate = car.crossings_per_30d
        direction = (
            "inbound"
            if pattern in ("cigarettes", "liquor", "hydrocarbon_oil")
            else _pick(rng, ("inbound", "outbound"))
        )
        same_day = rng.binomial(int(rng.poisson(rate)), 0.7 if car.smuggler else 0.15)
        fields = {
            "plate_hk": car.plate_hk,
            "plate_mainland": car.plate_mainland,
            "vehicle_model": car.model[0],
            "portal_model": car.model[1],
            "owner_type": car.owner_type,
            "driver_id_hash": _pick(rng, car.driver_hashes),
            "crossing_point": _pick(rng, CONTROL_POINTS),
            "direction": direction,
            "timestamp": _hk_time(time_s),
            "occupants": str(1 + int(rng.poisson(0.4 if car.smuggler else 1.2))),
            "crossings_30d": str(int(rng.poisson(rate))),
            "crossings_365d": str(int(rng.poisson(rate * 12.2))),
            "distinct_drivers_90d": str(car.drivers),
            "same_day_returns_30d": str(int(same_day)),
            "mean_hours_across_30d": f"{car.hours_across * rng.lognormal(0.0, 0.2):.1f}",
            "vehicle_registered_days": str(car.registered_days),
            "prior_inspections_365d": str(int(rng.poisson(3.0 if car.smuggler else 0.6))),
            "prior_seizures_365d": str(int(rng.poisson(0.5 if car.smuggler else 0.01))),
            "illicit": "1" if pattern else "0",
            "illicit_pattern": pattern,
            "duty_at_stake_hkd": f"{_crossing_duty(rng, pattern):.2f}",
        }
        return frame_pb2.Record(record_id=record_id, kind=CROSSING_KIND, fields=fields)


def _car(rng: np.random.Generator, seed: int, number: int, smuggler: bool) -> _Car:
    letters = "".join(_pick(rng, _PLATE_LETTERS) for _ in range(2))
    mainland = "".join(_pick(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(4))
    vans_and_mpvs = [m for m in CAR_MODELS if m[1] in ("mpv-1", "van-1")]
    model = _pick(rng, vans_and_mpvs) if smuggler and rng.random() < 0.7 else _pick(rng, CAR_MODELS)
    drivers = 1 + int(rng.poisson(2.5 if smuggler else 0.4))
    hashes = tuple(hashlib.sha256(f"{seed}:{number}:{d}".encode()).hexdigest()[:16] for d in range(drivers))
    return _Car(
        plate_hk=f"{letters}{int(rng.integers(1, 10000))}",
        plate_mainland=f"\u7ca4Z{mainland}\u6e2f",  # Yue (Guangdong) Z ... Gang (Hong Kong)
        model=model,
        owner_type="company" if rng.random() < (0.6 if smuggler else 0.25) else "individual",
        registered_days=int(rng.exponential(300 if smuggler else 1500)) + 10,
        crossings_per_30d=float(rng.lognormal(np.log(14 if smuggler else 3), 0.5)),
        drivers=drivers,
        hours_across=float(rng.lognormal(np.log(3 if smuggler else 20), 0.6)),
        smuggler=smuggler,
        driver_hashes=hashes,
    )


def _crossing_duty(rng: np.random.Generator, pattern: str) -> float:
    """Duty at stake of what the car carries: cartons, bottles above the allowance, litres of petrol."""
    if pattern == "cigarettes":
        return cigarette_duty_hkd(int(rng.integers(5, 80)) * STICKS_PER_CARTON)
    if pattern == "liquor":
        bottles, volume_ml = int(rng.integers(4, 37)), float(_pick(rng, (500, 700, 750, 1000)))
        duty_free = int(TRAVELLER_LIQUOR_ALLOWANCE_LITRES * 1000 // volume_ml)
        price = float(rng.lognormal(np.log(600), 0.8))
        return max(0, bottles - duty_free) * liquor_duty_hkd(float(rng.uniform(38, 56)), volume_ml, price)
    if pattern == "hydrocarbon_oil":
        return float(rng.uniform(40, 250)) * UNLEADED_PETROL_DUTY_HKD_PER_LITRE
    return 0.0


def _hk_time(time_s: float) -> str:
    """ISO 8601 local time in Hong Kong (UTC+8), to the second."""
    local = datetime.fromtimestamp(time_s, tz=timezone(timedelta(hours=8)))
    return local.replace(microsecond=0).isoformat()
