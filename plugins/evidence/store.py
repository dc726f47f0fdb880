"""Where the evidence store keeps its state: items, custody, tag tracks, per-zone and per-case sets.

``EvidenceStore`` is the small interface the locator and the custody functions share. ``RedisStore``
keeps everything under the ``evidence_locator`` plugin's state prefix (the keys ``context.state``
reads and writes), one round trip per batch: values are JSON strings read with one MGET and written
with one pipeline, sets are Redis sets. ``MemoryStore`` is its fake twin for unit tests and the
offline evaluation.

Keys (under the prefix): ``item:<EPC>`` the item and its custody, ``tag:<EPC>`` the tag's track,
``zone:<Z>`` items expected in zone Z, ``seen:<Z>`` tags located in zone Z, ``case:<N>`` the case's
items, ``items`` every item, ``order:<id>`` an applied order (its id, so an order applied twice is
refused), ``count:<name>`` counters (``count:undecodable``), ``claim:<name>`` short-lived claims.
Writes of one batch are not a transaction: two readers updating the same tag in the same instant keep
the last write (each frame updates only its own zone's track, so little is lost).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
import redis

__all__ = ["EvidenceStore", "MemoryStore", "RedisStore", "store_for_state"]

Json = dict[str, Any]


class EvidenceStore(abc.ABC):
    """JSON values, sets and counters under keys; every method is one round trip."""

    @abc.abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[Json | None]:
        """The JSON objects under ``keys``, in order; None where there is none."""

    @abc.abstractmethod
    def write(
        self,
        values: Mapping[str, Json],
        added: Mapping[str, Iterable[str]] | None = None,
        removed: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Put ``values``, add members to sets, remove members from sets (removals first)."""

    @abc.abstractmethod
    def members(self, key: str) -> set[str]:
        """The members of the set under ``key``."""

    @abc.abstractmethod
    def increment(self, key: str, amount: int = 1) -> int:
        """Add to the counter under ``key`` and return its new value."""

    @abc.abstractmethod
    def counter(self, key: str) -> int:
        """The counter under ``key`` (0 if none)."""

    @abc.abstractmethod
    def claim(self, key: str, ttl_s: float) -> bool:
        """Whether this call took ``key`` (free, or its last claim older than ``ttl_s``)."""

    def get(self, key: str) -> Json | None:
        return self.get_many([key])[0]


class MemoryStore(EvidenceStore):
    """In this process (thread-safe), claims timed by ``clock``. With ``serialise=False`` values are
    kept as the very objects written (faster, for the offline replay, whose caller writes back what it
    changes anyway); otherwise as JSON, as Redis keeps them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, serialise: bool = True) -> None:
        self._values: dict[str, Any] = {}
        self._serialise = serialise
        self._sets: dict[str, set[str]] = {}
        self._counters: dict[str, int] = {}
        self._claims: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> list[Json | None]:
        with self._lock:
            raw = [self._values.get(key) for key in keys]
        return [None if text is None else (orjson.loads(text) if self._serialise else text) for text in raw]

    def write(
        self,
        values: Mapping[str, Json],
        added: Mapping[str, Iterable[str]] | None = None,
        removed: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        encoded = {key: _dumps(value) for key, value in values.items()} if self._serialise else dict(values)
        with self._lock:
            self._values.update(encoded)
            for key, members in (removed or {}).items():
                self._sets.get(key, set()).difference_update(members)
            for key, members in (added or {}).items():
                self._sets.setdefault(key, set()).update(members)

    def members(self, key: str) -> set[str]:
        with self._lock:
            return set(self._sets.get(key, ()))

    def increment(self, key: str, amount: int = 1) -> int:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + amount
            return self._counters[key]

    def counter(self, key: str) -> int:
        with self._lock:
            return self._counters.get(key, 0)

    def claim(self, key: str, ttl_s: float) -> bool:
        now = self._clock()
        with self._lock:
            if now - self._claims.get(key, -float("inf")) < ttl_s:
                return False
            self._claims[key] = now
            return True


class RedisStore(EvidenceStore):
    """In Redis, every key under ``prefix`` (a plugin's state prefix)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def get_many(self, keys: Sequence[str]) -> list[Json | None]:
        if not keys:
            return []
        raw = self.client.mget([self.prefix + key for key in keys])
        return [None if text is None else orjson.loads(text) for text in raw]

    def write(
        self,
        values: Mapping[str, Json],
        added: Mapping[str, Iterable[str]] | None = None,
        removed: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        pipe = self.client.pipeline(transaction=False)
        if values:
            pipe.mset({self.prefix + key: _dumps(value) for key, value in values.items()})
        for key, members in (removed or {}).items():
            if listed := list(members):
                pipe.srem(self.prefix + key, *listed)
        for key, members in (added or {}).items():
            if listed := list(members):
                pipe.sadd(self.prefix + key, *listed)
        if len(pipe):
            pipe.execute()

    def members(self, key: str) -> set[str]:
        return {_text(member) for member in self.client.smembers(self.prefix + key)}

    def increment(self, key: str, amount: int = 1) -> int:
        return int(self.client.incrby(self.prefix + key, amount))

    def counter(self, key: str) -> int:
        raw = self.client.get(self.prefix + key)
        return 0 if raw is None else int(raw)

    def claim(self, key: str, ttl_s: float) -> bool:
        return bool(self.client.set(self.prefix + key, "1", nx=True, px=max(1, int(ttl_s * 1000))))


def store_for_state(state: object) -> EvidenceStore:
    """The store over a plugin's keyed state: its Redis and prefix, or memory for any other state."""
    from smartcustoms.core.state import RedisState

    if isinstance(state, RedisState):
        return RedisStore(state.client, state.prefix)
    return MemoryStore()


def _dumps(value: Json) -> bytes:
    return orjson.dumps(value)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
