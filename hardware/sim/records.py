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
also travel via hubs, so no single field gives the answer away. ``illicit`` ("0"/"1") and
``illicit_pattern`` are ground truth for evaluation, not for detectors.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.v1 import frame_pb2

RECORD_KIND = "cargo_declaration"
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
        return frame_pb2.RecordBatch(records=records)

    def _declaration(self, rng: np.random.Generator, record_id: str) -> frame_pb2.Record:
        pattern = _pick(rng, ILLICIT_PATTERNS) if rng.random() < self.illicit_rate else ""
        goods = _goods(rng, pattern)
        low, high = goods.quantity_range
        quantity = int(np.exp(rng.uniform(np.log(low), np.log(high))))
        value = quantity * goods.unit_value_hkd * rng.lognormal(0.0, 0.25)
        weight = quantity * goods.unit_weight_kg * rng.lognormal(0.0, 0.1) + rng.uniform(5, 50)
        declared = goods
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
            },
        )


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
    """A MODALITY_RECORD frame whose payload is the serialized RecordBatch."""
    payload = batch.SerializeToString()
    capture_time = Timestamp()
    capture_time.GetCurrentTime()
    return frame_pb2.Frame(
        frame_id=str(uuid.uuid4()),
        source_id=source_id,
        modality=frame_pb2.MODALITY_RECORD,
        capture_time=capture_time,
        sequence=sequence,
        dtype=frame_pb2.DTYPE_UNSPECIFIED,
        encoding="protobuf",
        metadata={"record_kind": RECORD_KIND, "record_count": str(len(batch.records))},
        payload=payload,
        payload_bytes=len(payload),
    )
