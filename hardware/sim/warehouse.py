"""RFID evidence warehouse: seized items that are deposited, moved, retrieved, or go astray.

Zones are rooms, each watched by one four-antenna reader (the radio model of ``rfid``: log-distance path
loss, log-normal shadowing, -80 dBm sensitivity, faint reads through the walls of neighbouring rooms).
The first zone is intake, the last release, the ones between are storage. Every seized item carries an
SGTIN-96 tag (``smartcustoms.core.epc.encode_sgtin96``; company prefix of the evidence store, item
reference by kind of evidence, serial by item).

Time runs in ticks of one second; every reader reports once a tick (``reader_report(tick, zone)``).
``events`` is the ground-truth log, drawn at construction over ``horizon_ticks``:

* ``deposit``: a new item is read at intake for 10-30 s, carried (unread) to a storage zone;
* ``move``: a stored item is carried to another storage zone;
* ``retrieve``: a stored item is carried to release, read there for 10-30 s, then leaves;
* ``missing``: a stored item is no longer read anywhere (an anomaly);
* ``unauthorised_move``: a stored item turns up in another storage zone without a work order (an anomaly).

The authorised events come with work orders (``work_orders``: records of kind "evidence_work_order"),
which is what a detector sets the reads against. A fraction ``anomaly_rate`` of events are anomalies.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from smartcustoms.core.epc import encode_sgtin96
from smartcustoms.v1 import frame_pb2

from .rfid import (
    ANTENNA_POSITIONS_M,
    MAX_READ_RATE_HZ,
    REFERENCE_RSSI_DBM,
    REPORT_EPOCH_S,
    ROOM_SIZE_M,
    SENSITIVITY_DBM,
    SHADOWING_SIGMA_DB,
    TAG_HEIGHT_M,
    _timestamp,
    mean_rssi_dbm,
)

EVENT_KINDS = ("deposit", "move", "retrieve", "missing", "unauthorised_move")
ANOMALY_KINDS = ("missing", "unauthorised_move")
ORDER_KIND = "evidence_work_order"
DEFAULT_ZONES = ("intake", "vault-a", "vault-b", "vault-c", "release")
STORE_COMPANY_PREFIX = "4891234"  # GS1 Hong Kong prefix range 489; 7 digits leave 6 for the item reference
EVIDENCE_KINDS = {  # item reference (indicator digit + 5) by kind of evidence
    "cigarettes": "100001",
    "liquor": "100002",
    "electronics": "100003",
    "drugs": "100004",
    "cash": "100005",
    "documents": "100006",
    "firearm": "100007",
    "counterfeit_goods": "100008",
}
TICK_US = 1_000_000
NOT_IN_STORE = -1  # zone of an item before its deposit, in transit, or gone
STRAY_READ_PROBABILITY = 0.02


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One ground-truth event. tick: when it starts; arrival_tick: when the item reaches to_zone (-1 when
    it does not reach one); work_order: the order that authorised it, "" for anomalies."""

    tick: int
    kind: str
    item: int
    epc_hex: str
    from_zone: str
    to_zone: str
    arrival_tick: int
    work_order: str

    @property
    def authorised(self) -> bool:
        return self.kind not in ANOMALY_KINDS


@dataclass
class _Timeline:
    """Where one item is from each tick on: sorted starts, zones, shelf positions."""

    starts: list[int] = field(default_factory=list)
    zones: list[int] = field(default_factory=list)
    positions: list[tuple[float, float, float]] = field(default_factory=list)

    def at(self, tick: int) -> tuple[int, int]:
        """(zone, segment index) at a tick."""
        segment = bisect.bisect_right(self.starts, tick) - 1
        return (NOT_IN_STORE, -1) if segment < 0 else (self.zones[segment], segment)


@dataclass
class _Shelves:
    """Items sitting in storage, free to be picked for an event, and items on their way there."""

    idle: list[int]
    arriving: list[tuple[int, int]] = field(default_factory=list)  # heap of (arrival tick, item)

    def arrive(self, tick: int, item: int) -> None:
        heapq.heappush(self.arriving, (tick, item))

    def take(self, rng: np.random.Generator, tick: int) -> int | None:
        """A random idle item at ``tick``, removed from the shelves; None when there is none."""
        while self.arriving and self.arriving[0][0] <= tick:
            self.idle.append(heapq.heappop(self.arriving)[1])
        if not self.idle:
            return None
        position = int(rng.integers(len(self.idle)))
        self.idle[position], self.idle[-1] = self.idle[-1], self.idle[position]
        return self.idle.pop()


class EvidenceWarehouse:
    """A deterministic warehouse: the same seed gives the same events, reads and work orders."""

    def __init__(
        self,
        seed: int,
        *,
        zones: tuple[str, ...] = DEFAULT_ZONES,
        item_count: int = 300,
        horizon_ticks: int = 3600,
        events_per_minute: float = 6.0,
        anomaly_rate: float = 0.1,
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if len(zones) < 4 or len(set(zones)) != len(zones):
            raise ValueError("zones must be at least 4 distinct names: intake, two storage zones, release")
        if item_count < 1 or horizon_ticks < 1 or events_per_minute < 0:
            raise ValueError("item_count and horizon_ticks must be positive, events_per_minute non-negative")
        if not 0.0 <= anomaly_rate <= 1.0:
            raise ValueError("anomaly_rate must be within [0, 1]")
        self.seed, self.zones, self.horizon_ticks = seed, tuple(zones), horizon_ticks
        self.anomaly_rate = anomaly_rate
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        self.epcs: list[str] = []
        self.evidence_kinds: list[str] = []
        self._timelines: list[_Timeline] = []
        self._storage = list(range(1, len(zones) - 1))
        for _ in range(item_count):
            item = self._new_item(rng)
            self._settle(rng, item, 0, int(rng.choice(self._storage)))
        self.events = self._draw_events(rng, events_per_minute)

    # ----------------------------------------------------------------- ground truth

    @property
    def anomalies(self) -> tuple[EvidenceEvent, ...]:
        return tuple(e for e in self.events if not e.authorised)

    def zone_of_items(self, tick: int) -> np.ndarray:
        """Zone index of every item at a tick, ``NOT_IN_STORE`` (-1) when not in a zone."""
        return np.array([timeline.at(tick)[0] for timeline in self._timelines], dtype=np.int64)

    def locate(self, epc_hex: str, tick: int) -> str | None:
        """The zone an item is in at a tick, None when not in any."""
        zone, _ = self._timelines[self.epcs.index(epc_hex)].at(tick)
        return None if zone == NOT_IN_STORE else self.zones[zone]

    def work_orders(self, first_tick: int, stop_tick: int) -> frame_pb2.RecordBatch:
        """Work orders issued in [first_tick, stop_tick): one per authorised event, issued when it starts."""
        records = [self._order(e) for e in self.events if first_tick <= e.tick < stop_tick and e.authorised]
        return frame_pb2.RecordBatch(records=records)

    # ----------------------------------------------------------------- reader reports

    def reader_report(self, tick: int, zone: str, max_reads: int = 1000) -> frame_pb2.RfidReadBatch:
        """The report of ``zone``'s reader for one tick: one read per tag and antenna that heard it."""
        if tick < 0:
            raise ValueError("tick must be non-negative")
        if zone not in self.zones:
            raise ValueError(f"unknown zone {zone!r}; zones: {self.zones}")
        z = self.zones.index(zone)
        rng = np.random.default_rng([self.seed, tick, z])
        here, positions, stray = [], [], []
        for item, timeline in enumerate(self._timelines):
            item_zone, segment = timeline.at(tick)
            if item_zone == z:
                here.append(item)
                positions.append(timeline.positions[segment])
            elif item_zone != NOT_IN_STORE and abs(item_zone - z) == 1:
                stray.append(item)
        tags, antennas, rssi = self._direct_reads(rng, np.array(here, dtype=np.int64), np.array(positions))
        stray_tags = np.array(stray, dtype=np.int64)[rng.random(len(stray)) < STRAY_READ_PROBABILITY]
        tags = np.concatenate([tags, stray_tags])
        antennas = np.concatenate([antennas, rng.integers(0, len(ANTENNA_POSITIONS_M), stray_tags.size)])
        rssi = np.concatenate([rssi, rng.uniform(SENSITIVITY_DBM, SENSITIVITY_DBM + 6, stray_tags.size)])
        margin = np.clip((rssi - SENSITIVITY_DBM) / 50.0, 0.02, 1.0)
        seen = rng.poisson(MAX_READ_RATE_HZ * TICK_US / 1e6 * margin)
        times_us = np.sort(rng.integers(0, TICK_US, (tags.size, 2)), axis=1)
        times_us[seen == 1, 1] = times_us[seen == 1, 0]
        order = [i for i in np.argsort(times_us[:, 0], kind="stable") if seen[i] > 0][:max_reads]
        batch = frame_pb2.RfidReadBatch(reader_id=f"reader-{zone}", zone=zone)
        start_us = (REPORT_EPOCH_S + tick) * 1_000_000
        for i in order:
            batch.reads.add(
                epc_hex=self.epcs[tags[i]],
                antenna_id=int(antennas[i]) + 1,
                rssi_dbm=round(float(rssi[i])),
                first_seen=_timestamp(start_us + int(times_us[i, 0])),
                last_seen=_timestamp(start_us + int(times_us[i, 1])),
                seen_count=int(seen[i]),
            )
        return batch

    def tick_reports(self, tick: int) -> list[frame_pb2.RfidReadBatch]:
        """Every reader's report for one tick, in zone order."""
        return [self.reader_report(tick, zone) for zone in self.zones]

    def _direct_reads(
        self, rng: np.random.Generator, items: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if items.size == 0:
            return items, np.zeros(0, dtype=np.int64), np.zeros(0)
        offsets = positions[:, None, :] - np.asarray(ANTENNA_POSITIONS_M)[None, :, :]
        mean = mean_rssi_dbm(np.linalg.norm(offsets, axis=2))
        rssi = np.minimum(mean + rng.normal(0.0, SHADOWING_SIGMA_DB, mean.shape), REFERENCE_RSSI_DBM)
        heard_item, heard_antenna = np.nonzero(rssi >= SENSITIVITY_DBM)
        return items[heard_item], heard_antenna, rssi[heard_item, heard_antenna]

    # ----------------------------------------------------------------- event drawing

    def _new_item(self, rng: np.random.Generator) -> int:
        item = len(self._timelines)
        kind = list(EVIDENCE_KINDS)[int(rng.integers(len(EVIDENCE_KINDS)))]
        serial = self.seed * 1_000_000 + item
        self.epcs.append(encode_sgtin96(STORE_COMPANY_PREFIX, EVIDENCE_KINDS[kind], serial % 2**38))
        self.evidence_kinds.append(kind)
        self._timelines.append(_Timeline())
        return item

    def _settle(self, rng: np.random.Generator, item: int, tick: int, zone: int) -> None:
        """From ``tick`` the item is in ``zone`` (or nowhere) at a random shelf position."""
        low, high = (0.3, 0.3, TAG_HEIGHT_M[0]), (ROOM_SIZE_M[0] - 0.3, ROOM_SIZE_M[1] - 0.3, TAG_HEIGHT_M[1])
        position = tuple(float(v) for v in rng.uniform(low, high))
        timeline = self._timelines[item]
        timeline.starts.append(tick)
        timeline.zones.append(zone)
        timeline.positions.append((position[0], position[1], position[2]))

    def _draw_events(self, rng: np.random.Generator, events_per_minute: float) -> tuple[EvidenceEvent, ...]:
        count = int(rng.poisson(events_per_minute * self.horizon_ticks / 60))
        ticks = np.sort(rng.integers(0, self.horizon_ticks, count))
        anomaly = self.anomaly_rate / 2
        weights = np.array([0.3, 0.25, 0.25, 0.0, 0.0]) * (1 - self.anomaly_rate) / 0.8 + [
            0,
            0,
            0,
            anomaly,
            anomaly,
        ]
        events = []
        stored = _Shelves(list(range(len(self._timelines))))
        for number, tick in enumerate(ticks):
            kind = EVENT_KINDS[int(rng.choice(len(EVENT_KINDS), p=weights))]
            event = self._event(rng, int(tick), kind, f"WO-{self.seed}-{number:06d}", stored)
            if event is not None:
                events.append(event)
                if event.to_zone and event.kind != "retrieve":
                    stored.arrive(event.arrival_tick, event.item)
        return tuple(events)

    def _event(
        self, rng: np.random.Generator, tick: int, kind: str, order: str, stored: _Shelves
    ) -> EvidenceEvent | None:
        if kind == "deposit":
            item = self._new_item(rng)
            stay = tick + int(rng.integers(10, 31))
            arrival = stay + int(rng.integers(5, 16))
            self._settle(rng, item, tick, 0)
            self._settle(rng, item, stay, NOT_IN_STORE)
            to_zone = int(rng.choice(self._storage))
            self._settle(rng, item, arrival, to_zone)
            return EvidenceEvent(tick, kind, item, self.epcs[item], "", self.zones[to_zone], arrival, order)
        taken = stored.take(rng, tick)
        if taken is None:
            return None
        item = taken
        from_zone = self._timelines[item].zones[-1]
        self._settle(rng, item, tick, NOT_IN_STORE)
        if kind == "missing":
            return EvidenceEvent(tick, kind, item, self.epcs[item], self.zones[from_zone], "", -1, "")
        arrival = tick + int(rng.integers(5, 21))
        if kind == "retrieve":
            to_zone = len(self.zones) - 1
            self._settle(rng, item, arrival, to_zone)
            self._settle(rng, item, arrival + int(rng.integers(10, 31)), NOT_IN_STORE)
        else:
            to_zone = int(rng.choice([z for z in self._storage if z != from_zone]))
            self._settle(rng, item, arrival, to_zone)
        return EvidenceEvent(
            tick,
            kind,
            item,
            self.epcs[item],
            self.zones[from_zone],
            self.zones[to_zone],
            arrival,
            order if kind != "unauthorised_move" else "",
        )

    def _order(self, event: EvidenceEvent) -> frame_pb2.Record:
        issued = datetime.fromtimestamp(REPORT_EPOCH_S + event.tick, tz=UTC)
        return frame_pb2.Record(
            record_id=event.work_order,
            kind=ORDER_KIND,
            fields={
                "order_id": event.work_order,
                "action": event.kind,
                "epc_hex": event.epc_hex,
                "evidence_kind": self.evidence_kinds[event.item],
                "from_zone": event.from_zone,
                "to_zone": event.to_zone,
                "issued_at": issued.isoformat().replace("+00:00", "Z"),
                "case": f"C{self.seed}-{event.item // 4:05d}",
                "officers": f"officer-{event.item % 7 + 1},officer-{(event.item + 3) % 7 + 1}",
            },
        )


def event_dict(event: EvidenceEvent) -> dict[str, object]:
    """An event as JSON-ready values."""
    return {
        "tick": event.tick,
        "kind": event.kind,
        "epc_hex": event.epc_hex,
        "from_zone": event.from_zone,
        "to_zone": event.to_zone,
        "arrival_tick": event.arrival_tick,
        "work_order": event.work_order,
        "authorised": event.authorised,
    }
