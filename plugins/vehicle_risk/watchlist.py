"""The officers' watchlist of plates and drivers, kept in the vehicle_risk plugin's state.

An entry is a value (no expiry) under ``watch:{plate}`` or ``watch_driver:{driver_id_hash}``, holding
JSON ``{"reason": ..., "officer": ..., "added_at": ISO 8601}``. The plugin selects every crossing of a
watched plate or by a watched driver for inspection, with the reason "watchlist: <reason>", reading the
entry afresh for each crossing (nothing is cached), so a change applies from the next crossing on.

Officers maintain it with ``smartcustoms watchlist`` and the watchlist page (``runtime/watchlist_page``);
both check what they are given with ``target`` / ``targets`` and ``WatchEntry.now`` and write through
``add`` and ``remove`` here, so they accept the same input, refuse it with the same words, and agree with
the plugin on the keys. Given an ``Audit``, a change and its audit trail event (``watchlist_added``,
``watchlist_removed``) are written in one Redis transaction.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from smartcustoms.core.audit import enqueue_event
from smartcustoms.core.state import PluginState, RedisState
from smartcustoms.plugins.vehicle_risk.history import driver_key, plate_key

__all__ = [
    "KINDS",
    "MAX_ID_CHARS",
    "MAX_REASON_CHARS",
    "Audit",
    "WatchEntry",
    "Watched",
    "add",
    "entries",
    "lookup",
    "remove",
    "target",
    "targets",
    "watch_driver_key",
    "watch_key",
]

PLATE_PREFIX = "watch:"
DRIVER_PREFIX = "watch_driver:"
KINDS = ("plate", "driver")
MAX_REASON_CHARS = 200  # it becomes the selection's first reason, on the alert and the search page
MAX_ID_CHARS = 64  # a plate has at most 8; the simulator's driver id hashes 16
ADDED, REMOVED = "watchlist_added", "watchlist_removed"  # audit trail kinds


@dataclass(frozen=True)
class WatchEntry:
    reason: str
    officer: str
    added_at: str  # ISO 8601, UTC

    @classmethod
    def now(cls, reason: str, officer: str) -> WatchEntry:
        """A new entry; ValueError for a missing or overlong reason, or no officer."""
        if not reason.strip() or not officer.strip():
            raise ValueError("a watchlist entry needs a reason and an officer")
        if len(reason.strip()) > MAX_REASON_CHARS:
            raise ValueError(f"the reason has {len(reason.strip())} characters: at most {MAX_REASON_CHARS}")
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


@dataclass(frozen=True)
class Watched:
    """What an entry watches: a plate or a driver, as the plugin's history keeps it."""

    kind: str  # "plate" | "driver"
    id: str  # plate_key(plate) or driver_key(driver_id_hash)

    @property
    def key(self) -> str:
        return (PLATE_PREFIX if self.kind == "plate" else DRIVER_PREFIX) + self.id


@dataclass(frozen=True)
class Audit:
    """Record changes in the audit trail of ``namespace``, saying which door they came through."""

    namespace: str
    via: str  # "page" or "command"


def target(kind: str, name: str) -> Watched:
    """The plate or driver ``name`` names; ValueError for an unknown kind, an empty or overlong name."""
    if kind not in KINDS:
        raise ValueError(f"a watchlist entry watches a plate or a driver, not {kind[:20]!r}")
    kept = plate_key(name) if kind == "plate" else driver_key(name)
    if not kept:
        raise ValueError(
            "name the plate to watch" if kind == "plate" else "name the driver's id hash to watch"
        )
    if len(kept) > MAX_ID_CHARS:
        raise ValueError(f"a {kind} has at most {MAX_ID_CHARS} characters, this one {len(kept)}")
    return Watched(kind, kept)


def targets(*, plate: str = "", driver: str = "") -> list[Watched]:
    """A plate, a driver or both, as the command names them; ValueError if neither."""
    named = [target(kind, name) for kind, name in (("plate", plate), ("driver", driver)) if name.strip()]
    if not named:
        raise ValueError("name a plate, a driver (--driver HASH), or both")
    return named


def watch_key(plate: str) -> str:
    return PLATE_PREFIX + plate_key(plate)


def watch_driver_key(driver_id_hash: str) -> str:
    return DRIVER_PREFIX + driver_key(driver_id_hash)


def add(
    state: PluginState, entry: WatchEntry, watched: Sequence[Watched], audit: Audit | None = None
) -> None:
    """Watch each of ``watched`` (replacing an earlier entry), with its audit events if ``audit``."""
    if audit is None:
        for one in watched:
            state.put(one.key, entry.to_json())
        return
    pipe = _redis(state).client.pipeline(transaction=True)
    for one in watched:
        pipe.set(_name(state, one), entry.to_json())
        enqueue_event(pipe, audit.namespace, ADDED, _body(one, entry, entry.officer, audit))
    pipe.execute()


def remove(
    state: PluginState, watched: Sequence[Watched], officer: str = "", audit: Audit | None = None
) -> list[tuple[Watched, WatchEntry]]:
    """Stop watching each of ``watched``: the ones that had an entry, with it. With ``audit``, each removal
    goes into the trail as ``officer``'s, in the same transaction (retried if an entry moved meanwhile)."""
    if audit is None:
        held = _held(watched, state.get_many([one.key for one in watched]))
        for one, _ in held:
            state.delete(one.key)
        return held
    with _redis(state).client.pipeline(transaction=True) as pipe:
        names = [_name(state, one) for one in watched]
        while True:
            try:
                pipe.watch(*names)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                held = _held(watched, [None if raw is None else _text(raw) for raw in pipe.mget(names)])
                pipe.multi()
                for one, entry in held:
                    pipe.delete(_name(state, one))
                    body = _body(one, entry, officer, audit) | {"added_by": entry.officer}
                    enqueue_event(pipe, audit.namespace, REMOVED, body)
                pipe.execute()
                return held
            except redis.WatchError:
                continue


def lookup(state: PluginState, plate: str | None, driver: str | None) -> list[tuple[str, WatchEntry]]:
    """The entries that watch this crossing's plate or driver, as ("plate" | "driver", entry)."""
    wanted = [("plate", watch_key(plate))] if plate else []
    wanted += [("driver", watch_driver_key(driver))] if driver else []
    if not wanted:
        return []
    found = state.get_many([key for _, key in wanted])
    return [(kind, WatchEntry.from_json(raw)) for (kind, _), raw in zip(wanted, found, strict=True) if raw]


def entries(state: PluginState) -> Iterator[tuple[str, str, WatchEntry]]:
    """Every entry on the Redis: ("plate" | "driver", plate or driver hash, entry), in key order."""
    on_redis = _redis(state, "listing the watchlist")
    names = sorted(
        _text(name)
        for prefix in (PLATE_PREFIX, DRIVER_PREFIX)
        for name in on_redis.client.scan_iter(match=_glob(on_redis.prefix + prefix) + "*", count=1000)
    )
    for name in names:
        key = name[len(on_redis.prefix) :]
        raw = state.get(key)
        if raw is None:  # removed meanwhile
            continue
        kind, prefix = ("driver", DRIVER_PREFIX) if key.startswith(DRIVER_PREFIX) else ("plate", PLATE_PREFIX)
        yield kind, key[len(prefix) :], WatchEntry.from_json(raw)


def _held(watched: Sequence[Watched], found: Sequence[str | None]) -> list[tuple[Watched, WatchEntry]]:
    return [
        (one, WatchEntry.from_json(raw)) for one, raw in zip(watched, found, strict=True) if raw is not None
    ]


def _body(one: Watched, entry: WatchEntry, officer: str, audit: Audit) -> dict[str, Any]:
    """An audit event: what is watched, the entry, who made the change and through which door."""
    return {"kind": one.kind, "id": one.id, "reason": entry.reason, "officer": officer, "via": audit.via}


def _redis(state: PluginState, what: str = "an audited watchlist change") -> RedisState:
    """An audited change is one Redis transaction with its event, a listing a scan of Redis keys: only a
    ``RedisState`` can do them."""
    if not isinstance(state, RedisState):
        raise TypeError(f"{what} needs the plugin's state on Redis")
    return state


def _name(state: PluginState, one: Watched) -> str:
    """The Redis key of an entry (a watch key only ever holds a value, never a window)."""
    return _redis(state).prefix + one.key


def _glob(text: str) -> str:
    """``text`` as a literal in a Redis SCAN pattern."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
