"""A plate's and a driver's history in the plugin's keyed state, point-in-time and idempotent.

Every crossing is first judged against what came strictly before it (``window_count`` as of its own
timestamp), then added to the history under its record id (``window_add``), so a redelivered crossing
changes nothing and a crossing processed late never sees crossings that came after it. The keys, all
under the plugin's own prefix (``plugin_state_prefix(namespace, "vehicle_risk")``):

=============================  =======================  ===============================================
key                            kind, window             one event per
=============================  =======================  ===============================================
``crossings:{plate}``          window, 30 days          crossing of the plate
``{direction}:{plate}``        window, 1 day            crossing, by direction (inbound / outbound)
``returns:{plate}``            window, 30 days          same-day return: a crossing with an opposite-
                                                        direction crossing of the plate in the 24 h before
``driver:{driver}``            window, 30 days          crossing by the driver
``pair:{plate}|{driver}``      window, 90 days          crossing of the plate by the driver
``drivers:{plate}``            value (JSON), 90-day TTL  the plate's drivers, {driver: last seen s}
``plates:{driver}``            value (JSON), 90-day TTL  the driver's plates, {plate: last seen s}
``searches:{plate}``           window, 365 days         closed search report (the search service)
``seizures:{plate}``           window, 365 days         search report with goods seized; value: the
                                                        duty found, HKD (the search service)
=============================  =======================  ===============================================

Distinct drivers of a plate (and plates of a driver) in 90 days are the members of the small set whose
``pair:`` window holds an event in the 90 days before the crossing: the set only says whom to ask, the
windows keep the answer point-in-time. The sets are read, merged and written back (``put``), so two
actors adding a new driver of the same plate at the same instant could lose one member until its next
crossing; members not seen for 90 days before the newest crossing are dropped, and at most
``MAX_MEMBERS`` kept (the most recent).

``record_search`` is what the search service calls when an officer closes a search report: the plate's
``searches:`` and ``seizures:`` history the next crossings are judged against.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from smartcustoms.core.state import PluginState

__all__ = [
    "HISTORY_FEATURES",
    "Crossing",
    "CrossingHistory",
    "plate_key",
    "record_search",
    "searches_key",
    "seizures_key",
]

DAY_S = 86_400.0
CROSSINGS_WINDOW_S = 30 * DAY_S
DIRECTION_WINDOW_S = DAY_S  # a same-day return: the opposite crossing within 24 h before
PAIR_WINDOW_S = 90 * DAY_S
SEARCH_WINDOW_S = 365 * DAY_S
MAX_MEMBERS = 32
DIRECTIONS = ("inbound", "outbound")

HISTORY_FEATURES = (
    "plate_crossings_1d",
    "plate_crossings_7d",
    "plate_crossings_30d",
    "plate_opposite_24h",  # > 0: this crossing is a same-day return
    "plate_returns_30d",
    "plate_drivers_90d",
    "driver_plates_90d",
    "driver_crossings_30d",
    "plate_searches_365d",
    "plate_seizures_365d",
    "plate_seized_duty_hkd_365d",
)


def plate_key(plate: str) -> str:
    """A plate as its history is kept: case and spaces do not matter ("ab 1234" is "AB1234")."""
    return "".join(plate.split()).upper()


def driver_key(driver_id_hash: str) -> str:
    return driver_id_hash.strip().lower()


def searches_key(plate: str) -> str:
    return f"searches:{plate_key(plate)}"


def seizures_key(plate: str) -> str:
    return f"seizures:{plate_key(plate)}"


def record_search(
    state: PluginState, plate: str, report_id: str, closed_at_s: float, *, duty_found_hkd: float | None
) -> None:
    """Add a closed search report of ``plate`` to its history: a search and, when goods were seized
    (``duty_found_hkd`` not None; 0 for goods that carry no duty), a seizure valued at the duty found.
    Idempotent per ``report_id``."""
    state.window_add(searches_key(plate), report_id, closed_at_s, window_s=SEARCH_WINDOW_S)
    if duty_found_hkd is not None:
        state.window_add(
            seizures_key(plate), report_id, closed_at_s, duty_found_hkd, window_s=SEARCH_WINDOW_S
        )


@dataclass(frozen=True)
class Crossing:
    """What the history needs of a crossing; None where the record does not say."""

    event_id: str
    plate: str | None
    driver: str | None
    direction: str | None  # "inbound" or "outbound"
    at_s: float | None


class CrossingHistory:
    """The history features of crossings, kept in one plugin's state."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    def judge_then_add(self, crossing: Crossing) -> dict[str, float]:
        """The crossing's history features as of its own time (NaN where it lacks what a feature needs),
        then the crossing added to the history."""
        features = dict.fromkeys(HISTORY_FEATURES, math.nan)
        if crossing.at_s is None:
            return features
        if crossing.plate is not None:
            features |= self._plate(crossing.plate, crossing.direction, crossing.at_s)
        if crossing.driver is not None:
            count = self.state.window_count(
                f"driver:{crossing.driver}", window_s=CROSSINGS_WINDOW_S, as_of_s=crossing.at_s
            )
            features["driver_crossings_30d"] = float(count)
        if crossing.plate is not None and crossing.driver is not None:
            drivers, plates = self._members(crossing.plate, crossing.driver, crossing.at_s)
            features["plate_drivers_90d"], features["driver_plates_90d"] = float(drivers), float(plates)
        self._add(crossing, crossing.at_s, same_day_return=features["plate_opposite_24h"] > 0)
        return features

    def _plate(self, plate: str, direction: str | None, at_s: float) -> dict[str, float]:
        count = self.state.window_count
        seen = {
            f"plate_crossings_{days}d": float(
                count(f"crossings:{plate}", window_s=days * DAY_S, as_of_s=at_s)
            )
            for days in (1, 7, 30)
        }
        if direction is not None:
            opposite = DIRECTIONS[1 - DIRECTIONS.index(direction)]
            seen["plate_opposite_24h"] = float(
                count(f"{opposite}:{plate}", window_s=DIRECTION_WINDOW_S, as_of_s=at_s)
            )
        seen["plate_returns_30d"] = float(
            count(f"returns:{plate}", window_s=CROSSINGS_WINDOW_S, as_of_s=at_s)
        )
        seen["plate_searches_365d"] = float(
            count(searches_key(plate), window_s=SEARCH_WINDOW_S, as_of_s=at_s)
        )
        seen["plate_seizures_365d"] = float(
            count(seizures_key(plate), window_s=SEARCH_WINDOW_S, as_of_s=at_s)
        )
        seen["plate_seized_duty_hkd_365d"] = self.state.window_sum(
            seizures_key(plate), window_s=SEARCH_WINDOW_S, as_of_s=at_s
        )
        return seen

    def _members(self, plate: str, driver: str, at_s: float) -> tuple[int, int]:
        """Distinct drivers of the plate and plates of the driver in the 90 days before ``at_s``; then
        each set gains the other (written back with the newest times)."""
        raw_drivers, raw_plates = self.state.get_many([f"drivers:{plate}", f"plates:{driver}"])
        drivers, plates = _members(raw_drivers), _members(raw_plates)
        active_drivers = sum(self._paired(plate, other, at_s) for other in drivers)
        active_plates = sum(self._paired(other, driver, at_s) for other in plates)
        self._put_members(f"drivers:{plate}", drivers, driver, at_s)
        self._put_members(f"plates:{driver}", plates, plate, at_s)
        return active_drivers, active_plates

    def _paired(self, plate: str, driver: str, at_s: float) -> bool:
        key = f"pair:{plate}|{driver}"
        return self.state.window_count(key, window_s=PAIR_WINDOW_S, as_of_s=at_s) > 0

    def _put_members(self, key: str, members: dict[str, float], member: str, at_s: float) -> None:
        merged = members | {member: max(at_s, members.get(member, at_s))}
        newest_s = max(merged.values())
        kept = sorted(
            ((name, seen_s) for name, seen_s in merged.items() if seen_s >= newest_s - PAIR_WINDOW_S),
            key=lambda item: -item[1],
        )[:MAX_MEMBERS]
        self.state.put(key, json.dumps(dict(kept), separators=(",", ":")), ttl_s=PAIR_WINDOW_S)

    def _add(self, crossing: Crossing, at_s: float, *, same_day_return: bool) -> None:
        add, event = self.state.window_add, crossing.event_id
        if crossing.plate is not None:
            add(f"crossings:{crossing.plate}", event, at_s, window_s=CROSSINGS_WINDOW_S)
            if crossing.direction is not None:
                add(f"{crossing.direction}:{crossing.plate}", event, at_s, window_s=DIRECTION_WINDOW_S)
            if same_day_return:
                add(f"returns:{crossing.plate}", event, at_s, window_s=CROSSINGS_WINDOW_S)
        if crossing.driver is not None:
            add(f"driver:{crossing.driver}", event, at_s, window_s=CROSSINGS_WINDOW_S)
        if crossing.plate is not None and crossing.driver is not None:
            add(f"pair:{crossing.plate}|{crossing.driver}", event, at_s, window_s=PAIR_WINDOW_S)


def _members(raw: str | None) -> dict[str, float]:
    """A member set as stored; an unreadable one counts as empty (it is rewritten on this crossing)."""
    if raw is None:
        return {}
    try:
        loaded = json.loads(raw)
        return {str(name): float(seen_s) for name, seen_s in dict(loaded).items()}
    except (ValueError, TypeError):
        return {}
