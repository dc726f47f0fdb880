"""The officers' watchlist of plates and drivers, kept in the vehicle_risk plugin's state.

An entry is a value (no expiry) under ``watch:{plate}`` or ``watch_driver:{driver_id_hash}``, holding
JSON ``{"reason": ..., "officer": ..., "added_at": ISO 8601}``. The plugin selects every crossing of a
watched plate or by a watched driver for inspection, with the reason "watchlist: <reason>". Officers
maintain it with ``smartcustoms watchlist`` (and the review page); both write through ``add`` and
``remove`` here, so the plugin and its tools agree on the keys.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from smartcustoms.core.state import PluginState, RedisState
from smartcustoms.plugins.vehicle_risk.history import driver_key, plate_key

__all__ = ["WatchEntry", "add", "entries", "lookup", "remove", "watch_driver_key", "watch_key"]

PLATE_PREFIX = "watch:"
DRIVER_PREFIX = "watch_driver:"


@dataclass(frozen=True)
class WatchEntry:
    reason: str
    officer: str
    added_at: str  # ISO 8601, UTC

    @classmethod
    def now(cls, reason: str, officer: str) -> WatchEntry:
        if not reason.strip() or not officer.strip():
            raise ValueError("a watchlist entry needs a reason and an officer")
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return cls(reason.strip(), officer.strip(), stamp)

    @classmethod
    def from_json(cls, raw: str) -> WatchEntry:
        """An entry as stored; a value that is not an entry's JSON is its own reason."""
        try:
            loaded = dict(json.loads(raw))
            return cls(str(loaded["reason"]), str(loaded.get("officer", "")), str(loaded.get("added_at", "")))
        except (ValueError, TypeError, KeyError):
            return cls(raw, "", "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


def watch_key(plate: str) -> str:
    return PLATE_PREFIX + plate_key(plate)


def watch_driver_key(driver_id_hash: str) -> str:
    return DRIVER_PREFIX + driver_key(driver_id_hash)


def add(state: PluginState, entry: WatchEntry, *, plate: str = "", driver: str = "") -> list[str]:
    """Watch ``plate`` and/or ``driver`` (replacing an earlier entry); the keys written."""
    keys = _keys(plate, driver)
    for key in keys:
        state.put(key, entry.to_json())
    return keys


def remove(state: PluginState, *, plate: str = "", driver: str = "") -> list[str]:
    """Stop watching ``plate`` and/or ``driver``; the keys that held an entry."""
    keys = _keys(plate, driver)
    held = [key for key, raw in zip(keys, state.get_many(keys), strict=True) if raw is not None]
    for key in held:
        state.delete(key)
    return held


def lookup(state: PluginState, plate: str | None, driver: str | None) -> list[tuple[str, WatchEntry]]:
    """The entries that watch this crossing's plate or driver, as ("plate" | "driver", entry)."""
    wanted = [("plate", watch_key(plate))] if plate else []
    wanted += [("driver", watch_driver_key(driver))] if driver else []
    if not wanted:
        return []
    found = state.get_many([key for _, key in wanted])
    return [(kind, WatchEntry.from_json(raw)) for (kind, _), raw in zip(wanted, found, strict=True) if raw]


def entries(state: RedisState) -> Iterator[tuple[str, str, WatchEntry]]:
    """Every entry on the Redis: ("plate" | "driver", plate or driver hash, entry), in key order."""
    names = sorted(
        _text(name)
        for prefix in (PLATE_PREFIX, DRIVER_PREFIX)
        for name in state.client.scan_iter(match=_glob(state.prefix + prefix) + "*", count=1000)
    )
    for name in names:
        raw = state.get(name[len(state.prefix) :])
        if raw is None:  # removed meanwhile
            continue
        key = name[len(state.prefix) :]
        kind, prefix = ("driver", DRIVER_PREFIX) if key.startswith(DRIVER_PREFIX) else ("plate", PLATE_PREFIX)
        yield kind, key[len(prefix) :], WatchEntry.from_json(raw)


def _keys(plate: str, driver: str) -> list[str]:
    keys = [watch_key(plate)] if plate_key(plate) else []
    keys += [watch_driver_key(driver)] if driver_key(driver) else []
    if not keys:
        raise ValueError("name a plate, a driver (--driver HASH), or both")
    return keys


def _glob(text: str) -> str:
    """``text`` as a literal in a Redis SCAN pattern."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
