"""Where a tag is: smoothed signal per zone, dwell, and hysteresis between zones (pure functions).

A reader report is one zone's view of one instant. For each tag in it the strongest antenna's RSSI is
the report's observation; per zone the tag keeps an exponentially weighted mean of those observations
(``ewma_dbm``), the time of its last read and its streak (reports in a row, gaps of at most ``gap_s``).
A zone holds the tag (presence) when the smoothed signal clears ``presence_dbm`` and the streak has
lasted ``dwell_reads`` reports: a read through a wall is faint (a few dB above the reader's
sensitivity) and rare, so it neither clears the floor nor keeps a streak. The tag moves to a zone that
holds it when it has no location yet, when its zone has not held it for ``stale_s``, or when the new
zone's smoothed signal beats the old one's by ``switch_margin_db`` (hysteresis: two rooms that both
hear a tag near their common wall do not toss it back and forth).

A track is JSON: ``{"z": zone, "since": s, "seen": s, "tr": {zone: [ewma_dbm, last_s, streak]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["LocatorSettings", "observe", "present"]


@dataclass(frozen=True)
class LocatorSettings:
    presence_dbm: float = -72.0  # smoothed signal a zone needs to hold a tag
    dwell_reads: int = 3  # reports in a row before a zone holds a tag
    gap_s: float = 3.0  # a longer silence in a zone restarts the streak
    smoothing: float = 0.4  # EWMA weight of a new observation
    forget_s: float = 30.0  # a zone silent this long starts its mean afresh
    stale_s: float = 8.0  # a zone silent this long no longer holds the tag
    switch_margin_db: float = 6.0  # how much stronger another zone must be to take the tag over

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> LocatorSettings:
        known = {f.name: f for f in fields(cls)}
        return cls(
            **{name: type(getattr(cls, name))(value) for name, value in settings.items() if name in known}
        )


DEFAULT_SETTINGS = LocatorSettings()


def observe(
    track: dict[str, Any] | None, zone: str, rssi_dbm: float, at_s: float, s: LocatorSettings
) -> dict[str, Any]:
    """The track after one report of ``zone`` heard the tag at ``rssi_dbm`` (strongest antenna)."""
    track = track if track is not None else {"z": "", "since": at_s, "seen": None, "tr": {}}
    zones: dict[str, list[float]] = track["tr"]
    previous = zones.get(zone)
    if previous is None or at_s - previous[1] > s.forget_s:
        ewma, streak = rssi_dbm, 1.0
    else:
        ewma = previous[0] + s.smoothing * (rssi_dbm - previous[0])
        streak = previous[2] + 1 if at_s - previous[1] <= s.gap_s else 1.0
    zones[zone] = [round(ewma, 2), at_s, streak]
    if present(track, zone, at_s, s):
        _place(track, zone, at_s, s)
    return track


def present(track: Mapping[str, Any], zone: str, at_s: float, s: LocatorSettings) -> bool:
    """Whether ``zone`` holds the tag at ``at_s``."""
    entry = track["tr"].get(zone)
    if entry is None:
        return False
    ewma, last_s, streak = entry
    return bool(ewma >= s.presence_dbm and streak >= s.dwell_reads and at_s - last_s <= s.stale_s)


def _place(track: dict[str, Any], zone: str, at_s: float, s: LocatorSettings) -> None:
    current = track["z"]
    if current != zone:
        held = current and present(track, current, at_s, s)
        if held and track["tr"][zone][0] < track["tr"][current][0] + s.switch_margin_db:
            return
        track["z"], track["since"] = zone, at_s
    track["seen"] = at_s
