"""Stock-take on demand and storage slot suggestions, over an ``EvidenceStore``.

A stock-take sets, per zone, the items custody expects there (``zone:<Z>``) against the tags the
readers hold there (``seen:<Z>``) and read within ``recent_s`` of the newest read: items expected but
not read are missing, items read but expected elsewhere (or not registered) are unexpected, unless an
order is carrying them through (a deposit still at intake).

Slots: each storage zone has ``slots_per_zone`` shelves of ``slot_capacity`` units, numbered from the
door; the last storage zone is the nearest to release. ``suggest_slot`` places a new deposit beside the
items of its case when there is room, else on the shelf nearest the exit for items due out within 30
days and the farthest for those held long, preferring shelves with room for half a shelf more (the rest
of a new case). ``first_fit`` is the baseline: the first shelf with room.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from .custody import DEFAULT_ZONES, CustodyError, Zones
from .store import EvidenceStore, Json

__all__ = ["Layout", "StockLine", "first_fit", "stock_take", "suggest_slot"]

RECENT_S = 300.0
SOON_DAYS = 30


@dataclass
class StockLine:
    zone: str
    expected: int
    read: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def stock_take(
    store: EvidenceStore,
    zones: Zones = DEFAULT_ZONES,
    *,
    zone: str = "",
    case: str = "",
    recent_s: float = RECENT_S,
) -> list[StockLine]:
    """Expected against read per zone (all zones, or ``zone``), for every case or only ``case``."""
    names = [z for z in (*zones.intake, *zones.storage) if not zone or z == zone]
    if zone and not names:
        raise CustodyError(f"unknown zone {zone!r}")
    of_case = store.members(f"case:{case}") if case else None
    expected = {z: store.members(f"zone:{z}") for z in names}
    held = {z: store.members(f"seen:{z}") for z in names}
    every = sorted(set().union(*expected.values(), *held.values()))
    tracks = dict(zip(every, store.get_many([f"tag:{e}" for e in every]), strict=True))
    newest = max((t["seen"] or 0.0 for t in tracks.values() if t), default=0.0)
    lines = []
    for name in names:
        read = {
            e
            for e in held[name]
            if (t := tracks.get(e)) and t["z"] == name and newest - (t["seen"] or 0) <= recent_s
        }
        want = expected[name]
        if of_case is not None:
            want, read = want & of_case, read & of_case
        others = sorted(read - want)
        carried = {
            item["epc"]
            for item in store.get_many([f"item:{e}" for e in others])
            if item is not None and name in item["allowed"] and newest <= item["allowed_until"]
        }  # on their way under an order: neither here nor missing
        read -= carried
        lines.append(StockLine(name, len(want), len(read), sorted(want - read), sorted(read - want)))
    return lines


@dataclass(frozen=True)
class Layout:
    zones: tuple[str, ...] = DEFAULT_ZONES.storage  # the last one is nearest the exit
    slots_per_zone: int = 40
    slot_capacity: int = 8

    def slots(self) -> list[str]:
        return [f"{z}/{n:02d}" for z in self.zones for n in range(1, self.slots_per_zone + 1)]

    def distance(self, slot: str) -> float:
        """How far a slot is from the exit, in shelves (zones count a full row each)."""
        zone, number = slot.split("/")
        return (len(self.zones) - 1 - self.zones.index(zone)) * self.slots_per_zone + int(number)


DEFAULT_LAYOUT = Layout()


def occupancy(items: Iterable[Json]) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Units used per slot and the cases per slot, from stored items."""
    used: dict[str, int] = defaultdict(int)
    cases: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if item.get("slot") and item.get("status") in ("registered", "stored", "out"):
            used[item["slot"]] += int(item.get("size", 1))
            cases[item["slot"]].add(item["case"])
    return used, cases


def first_fit(layout: Layout, used: Mapping[str, int], size: int) -> str:
    for slot in layout.slots():
        if used.get(slot, 0) + size <= layout.slot_capacity:
            return slot
    raise CustodyError("no slot has room")


def suggest_slot(
    layout: Layout,
    used: Mapping[str, int],
    cases: Mapping[str, set[str]],
    *,
    case: str,
    size: int,
    due: date | None,
    today: date,
) -> tuple[str, str]:
    """(slot, reason) for a new deposit; CustodyError if no slot has room."""
    if size < 1 or size > layout.slot_capacity:
        raise CustodyError(f"size must be 1 to {layout.slot_capacity} units, got {size}")
    free = [s for s in layout.slots() if used.get(s, 0) + size <= layout.slot_capacity]
    if not free:
        raise CustodyError("no slot has room")
    beside = [s for s in free if case in cases.get(s, ())]
    if beside:
        return beside[0], f"beside the other items of case {case}"
    roomy = [s for s in free if layout.slot_capacity - used.get(s, 0) >= max(size, layout.slot_capacity // 2)]
    pool = roomy or free  # a new case starts on a shelf with room for the rest of it
    days = (due - today).days if due is not None else None
    if days is not None and days <= SOON_DAYS:
        slot = min(pool, key=layout.distance)
        return slot, f"due out in {days} days: nearest free shelf to the exit"
    slot = max(pool, key=layout.distance)
    return slot, "held long: far from the exit, leaving the near shelves for items due soon"
