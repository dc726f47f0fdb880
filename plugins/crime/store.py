"""Where the crime-analytics plugin keeps what it has read: records, weekly counts, alerts.

``RedisCaseStore`` keeps them in the runtime's Redis under the plugin's state prefix, shared by every
actor of the plugin's pool and read by the crime page; ``MemoryCaseStore`` is its fake twin for unit
tests and the offline tools. Both are idempotent per record id: a redelivered record is neither stored
nor counted twice (``add_records`` says which records were new, and only those are counted).

Redis keys, after the prefix: ``store:records`` (hash: record id -> JSON ``{"kind", "fields"}``),
``store:count:<series>`` (hash: week -> cases), ``store:cases:<series>:<week>`` (set of case ids),
``store:alerts`` (hash: ``<series>@<week>`` -> alert JSON, ``<series>@<week>!drop`` for a drop),
``store:first_week``, ``store:latest_week`` (the latest week a case was counted in: weeks before it are
closed), ``store:series`` (set of every series counted), ``store:linked:<entity key>`` (set of the case
ids that named the entity: ``links``).
"""

from __future__ import annotations

import abc
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import redis

__all__ = ["CaseStore", "MemoryCaseStore", "RedisCaseStore", "StoredRecord", "TrendAlert"]


@dataclass(frozen=True)
class StoredRecord:
    record_id: str
    kind: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class TrendAlert:
    """A series that left its band in a week (``rise``), or in the ``weeks`` closed weeks ending with
    ``week`` (``drop``: ``week_start`` is the window's first Monday, ``count`` and ``expected`` its sums,
    and ``cases`` those of the baseline weeks before it, the level it fell from), as first seen."""

    series: str
    week: int
    week_start: str
    count: int
    expected: float
    top: int
    cases: tuple[str, ...]
    direction: str = "rise"  # "rise" or "drop"
    bottom: int = -1  # counts at or below this leave the band downwards
    weeks: int = 1

    @property
    def key(self) -> str:
        return f"{self.series}@{self.week}" + ("!drop" if self.direction == "drop" else "")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> TrendAlert:
        raw = json.loads(text)
        return cls(**{**raw, "cases": tuple(raw["cases"])})


class CaseStore(abc.ABC):
    @abc.abstractmethod
    def add_records(self, records: Sequence[StoredRecord]) -> list[bool]:
        """Store records not stored before; says, per record, whether it was new."""

    @abc.abstractmethod
    def records(self) -> list[StoredRecord]:
        """Every record stored, in no particular order."""

    @abc.abstractmethod
    def record_count(self) -> int: ...

    @abc.abstractmethod
    def count_cases(self, entries: Sequence[tuple[str, int, str]], first_week: int) -> int:
        """Count each (series, week, case id) once; lower the first week seen; returns the first week."""

    @abc.abstractmethod
    def counts(self, wanted: Sequence[tuple[str, Sequence[int]]]) -> list[dict[int, int]]:
        """The weekly counts of each series at the weeks asked (weeks without cases left out)."""

    @abc.abstractmethod
    def cases(self, series: str, week: int) -> list[str]:
        """The ids of the cases counted in a series in a week."""

    @abc.abstractmethod
    def add_alert(self, alert: TrendAlert) -> bool:
        """Keep an alert unless one for its series and week exists; says whether it was kept."""

    @abc.abstractmethod
    def alerts(self) -> list[TrendAlert]: ...

    @abc.abstractmethod
    def advance_week(self, week: int) -> int:
        """Raise the latest week cases were counted in to ``week``; returns the latest before (-1: none)."""

    @abc.abstractmethod
    def series(self) -> list[str]:
        """Every series a case was counted in."""

    @abc.abstractmethod
    def link_cases(self, keys: Sequence[str], case_id: str, cap: int) -> dict[str, list[str]]:
        """Add ``case_id`` to the cases of each entity key; returns, per key, the cases it had before
        (up to ``cap + 1`` of them: more than ``cap`` says the key is shared too widely to list)."""


class MemoryCaseStore(CaseStore):
    def __init__(self) -> None:
        self._records: dict[str, StoredRecord] = {}
        self._counts: dict[str, dict[int, int]] = defaultdict(dict)
        self._cases: dict[tuple[str, int], set[str]] = defaultdict(set)
        self._alerts: dict[str, TrendAlert] = {}
        self._first_week: int | None = None
        self._latest_week = -1
        self._linked: dict[str, set[str]] = defaultdict(set)

    def add_records(self, records: Sequence[StoredRecord]) -> list[bool]:
        new = []
        for record in records:
            new.append(record.record_id not in self._records)
            self._records.setdefault(record.record_id, record)
        return new

    def records(self) -> list[StoredRecord]:
        return list(self._records.values())

    def record_count(self) -> int:
        return len(self._records)

    def count_cases(self, entries: Sequence[tuple[str, int, str]], first_week: int) -> int:
        for series, week, case_id in entries:
            if case_id not in self._cases[series, week]:
                self._cases[series, week].add(case_id)
                self._counts[series][week] = self._counts[series].get(week, 0) + 1
        self._first_week = first_week if self._first_week is None else min(self._first_week, first_week)
        return self._first_week

    def counts(self, wanted: Sequence[tuple[str, Sequence[int]]]) -> list[dict[int, int]]:
        return [{w: self._counts[s][w] for w in weeks if w in self._counts[s]} for s, weeks in wanted]

    def cases(self, series: str, week: int) -> list[str]:
        return sorted(self._cases.get((series, week), ()))

    def add_alert(self, alert: TrendAlert) -> bool:
        if alert.key in self._alerts:
            return False
        self._alerts[alert.key] = alert
        return True

    def alerts(self) -> list[TrendAlert]:
        return list(self._alerts.values())

    def advance_week(self, week: int) -> int:
        before, self._latest_week = self._latest_week, max(self._latest_week, week)
        return before

    def series(self) -> list[str]:
        return sorted(s for s, weeks in self._counts.items() if weeks)

    def link_cases(self, keys: Sequence[str], case_id: str, cap: int) -> dict[str, list[str]]:
        before = {key: sorted(self._linked[key] - {case_id})[: cap + 1] for key in keys}
        for key in keys:
            self._linked[key].add(case_id)
        return before


class RedisCaseStore(CaseStore):
    """The store in Redis under ``prefix`` (the plugin's state prefix); one round trip per call."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}store:"

    def add_records(self, records: Sequence[StoredRecord]) -> list[bool]:
        pipe = self.client.pipeline(transaction=False)
        for r in records:
            pipe.hsetnx(
                f"{self.prefix}records", r.record_id, json.dumps({"kind": r.kind, "fields": r.fields})
            )
        return [bool(added) for added in pipe.execute()]

    def records(self) -> list[StoredRecord]:
        raw = self.client.hgetall(f"{self.prefix}records")
        out = []
        for record_id, body in raw.items():
            parsed = json.loads(body)
            out.append(StoredRecord(_text(record_id), parsed["kind"], parsed["fields"]))
        return out

    def record_count(self) -> int:
        return int(self.client.hlen(f"{self.prefix}records"))

    def count_cases(self, entries: Sequence[tuple[str, int, str]], first_week: int) -> int:
        pipe = self.client.pipeline(transaction=False)
        for series, week, case_id in entries:
            pipe.sadd(f"{self.prefix}cases:{series}:{week}", case_id)
        if entries:
            pipe.sadd(f"{self.prefix}series", *{series for series, _, _ in entries})
        added = pipe.execute()[: len(entries)] if entries else []
        pipe = self.client.pipeline(transaction=False)
        for (series, week, _), new in zip(entries, added, strict=True):
            if new:  # counted once per case, whichever actor sees it
                pipe.hincrby(f"{self.prefix}count:{series}", str(week), 1)
        pipe.set(f"{self.prefix}first_week", first_week, nx=True)
        pipe.get(f"{self.prefix}first_week")
        stored = int(pipe.execute()[-1])
        if first_week < stored:  # an older case arrived late: a rare second round trip
            self.client.set(f"{self.prefix}first_week", first_week)
            return first_week
        return stored

    def counts(self, wanted: Sequence[tuple[str, Sequence[int]]]) -> list[dict[int, int]]:
        pipe = self.client.pipeline(transaction=False)
        for series, weeks in wanted:
            pipe.hmget(f"{self.prefix}count:{series}", [str(w) for w in weeks])
        out = []
        for (_, weeks), values in zip(wanted, pipe.execute() if wanted else [], strict=True):
            out.append({w: int(v) for w, v in zip(weeks, values, strict=True) if v is not None})
        return out

    def cases(self, series: str, week: int) -> list[str]:
        return sorted(_text(c) for c in self.client.smembers(f"{self.prefix}cases:{series}:{week}"))

    def add_alert(self, alert: TrendAlert) -> bool:
        return bool(self.client.hsetnx(f"{self.prefix}alerts", alert.key, alert.to_json()))

    def alerts(self) -> list[TrendAlert]:
        return [TrendAlert.from_json(v) for v in self.client.hgetall(f"{self.prefix}alerts").values()]

    def advance_week(self, week: int) -> int:
        # two actors may both see the week advance: each then judges the same closed weeks, and
        # add_alert keeps one alert per series and window
        before = self.client.get(f"{self.prefix}latest_week")
        latest = int(before) if before is not None else -1
        if week > latest:
            self.client.set(f"{self.prefix}latest_week", week)
        return latest

    def series(self) -> list[str]:
        return sorted(_text(s) for s in self.client.smembers(f"{self.prefix}series"))

    def link_cases(self, keys: Sequence[str], case_id: str, cap: int) -> dict[str, list[str]]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:  # a bounded read: a key on thousands of cases costs cap + 2 members
            pipe.srandmember(f"{self.prefix}linked:{key}", cap + 2)
        for key in keys:
            pipe.sadd(f"{self.prefix}linked:{key}", case_id)
        found = pipe.execute()[: len(keys)] if keys else []
        return {
            key: sorted(c for c in map(_text, members) if c != case_id)[: cap + 1]
            for key, members in zip(keys, found, strict=True)
        }


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
