"""The audit trail in Redis: append records to the hash chain, read them back, and walk them.

Two ways in:

- ``append`` / ``append_many``: the caller gets the sealed record (its ``seq`` and ``hash``) at once. An
  append is a compare-and-append: the records are hashed here, on the caller's side, against the head
  the caller last saw, and a Lua script adds them only if the log still ends there (otherwise the caller
  reads the new head and hashes again). Any number of processes append to one chain.
- ``enqueue`` inside the caller's own Redis transaction: the event joins a pending queue atomically with
  the state change it describes (the ledger's verdicts and adjudications), and ``seal_pending`` (the
  gateway's auditor) moves the queue into the chain in order, in the same atomic step that appends. So a
  verdict stored is a verdict audited, even if a process dies between the two.

Keys, under the namespace's prefix: ``audit:log`` (list, position = seq, each a record's JSON),
``audit:pending`` (list), ``audit:kinds`` (hash: records by kind), ``audit:case:<case>`` (sorted set of
the seqs of a case's records).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.audit_chain import (
    GENESIS_HASH,
    INDEXED_FIELDS,
    AuditRecord,
    canonical_json,
    seal_encoded,
    utc_stamp,
)
from smartcustoms.core.keys import redis_prefix
from smartcustoms.v1 import results_pb2

__all__ = [
    "AsyncAuditTrail",
    "AuditChainError",
    "AuditRecord",
    "AuditTrail",
    "adjudication_body",
    "audit_key",
    "enqueue_event",
    "enqueue_verdict",
    "verdict_body",
]

CHUNK = 5000
BATCH = 1000  # records per script call: Lua's unpack() takes a few thousand arguments at most
MAX_ATTEMPTS = 100
_DECISIONS = {number: name for name, number in results_pb2.Decision.items()}
_SEPARATOR = b"\x1f"  # between an entry's kind and its body: ASCII unit separator, never in a kind

# KEYS: log, pending, kinds. ARGV: expected length, pending entries consumed, n, n records,
# m, m (index key, seq) pairs, then (kind, count) pairs. Returns -1 when appended, else the log's length.
_APPEND = """
local length = redis.call('LLEN', KEYS[1])
if length ~= tonumber(ARGV[1]) then return length end
local consumed = tonumber(ARGV[2])
if consumed > 0 then redis.call('LTRIM', KEYS[2], consumed, -1) end
local n = tonumber(ARGV[3])
local at = 4
if n > 0 then redis.call('RPUSH', KEYS[1], unpack(ARGV, at, at + n - 1)) end
at = at + n
local m = tonumber(ARGV[at])
at = at + 1
for i = 0, m - 1 do redis.call('ZADD', ARGV[at + 2 * i], ARGV[at + 2 * i + 1], ARGV[at + 2 * i + 1]) end
at = at + 2 * m
for i = at, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
return -1
"""


Encoded = tuple[str, str, Mapping[str, Any]]  # kind, body as canonical JSON, body


def encoded(entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Encoded]:
    return [(kind, canonical_json(body), body) for kind, body in entries]


class AuditChainError(RuntimeError):
    """The log's head cannot be read (it was changed behind the system's back), or appends keep losing
    the race to other writers."""


def audit_key(namespace: str, *parts: str) -> str:
    return redis_prefix(namespace) + "audit:" + ":".join(parts)


def verdict_body(verdict: results_pb2.Verdict, *, config_hash: str = "") -> dict[str, Any]:
    """What the trail keeps of a verdict: the decision, each plugin's name, version, decision, score and
    labels, the reference data (name, version, content hash) that produced them, and the config hash."""
    body: dict[str, Any] = {
        "frame_id": verdict.frame_id,
        "source_id": verdict.source_id,
        "sequence": verdict.sequence,
        "decision": _DECISIONS.get(verdict.decision, str(verdict.decision)),
        "decided_time": _stamp(verdict.decided_time) if verdict.HasField("decided_time") else "",
        "results": [_result_body(r) for r in verdict.results],
        "config_hash": config_hash or verdict.config_hash,
    }
    optional = {
        "conveyance_id": verdict.conveyance_id,
        "declaration_id": verdict.declaration_id,
        "control_point": verdict.control_point,
        "fallback_reason": verdict.fallback_reason,
    }
    body |= {name: value for name, value in optional.items() if value}
    if verdict.shadow_results:
        body["shadow_results"] = [_result_body(r) for r in verdict.shadow_results]
    return body


def _stamp(stamp: Timestamp) -> str:
    """RFC 3339 UTC with microseconds (what ``Timestamp.ToJsonString`` gives, several times faster)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp.seconds)) + f".{stamp.nanos // 1000:06d}Z"


def _result_body(result: results_pb2.PluginResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plugin": result.plugin,
        "version": result.plugin_version,
        "decision": _DECISIONS.get(result.decision, str(result.decision)),
        "labels": [d.label for d in result.detections],
        "reference_data": [
            {"name": r.name, "version": r.version, "content_hash": r.content_hash}
            for r in result.reference_data
        ],
    }
    if result.risk_score:
        body["risk_score"] = round(float(result.risk_score), 6)
    if result.failure_reason:
        body["failure_reason"] = result.failure_reason
    return body


def adjudication_body(verdict: results_pb2.Verdict) -> dict[str, Any]:
    adjudication = MessageToDict(verdict.adjudication, preserving_proto_field_name=True)
    return {"frame_id": verdict.frame_id, "source_id": verdict.source_id} | adjudication


def pending_entry(kind: str, body: Mapping[str, Any]) -> bytes:
    """An event as the pending queue holds it: its kind and its body's canonical JSON, encoded by the
    writer (so the one process that extends the chain only checks and hashes)."""
    return kind.encode() + _SEPARATOR + canonical_json(body).encode()


def enqueue_verdict(pipe: Any, namespace: str, verdict: results_pb2.Verdict) -> None:
    """Queue a verdict for the trail on ``pipe`` (a Redis pipeline or transaction of the caller)."""
    pipe.rpush(audit_key(namespace, "pending"), pending_entry("verdict", verdict_body(verdict)))


def enqueue_event(pipe: Any, namespace: str, kind: str, body: Mapping[str, Any]) -> None:
    """Queue an event for the trail on ``pipe``, atomically with the caller's own writes."""
    pipe.rpush(audit_key(namespace, "pending"), pending_entry(kind, body))


def read_pending(raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """(kind, body as canonical JSON, body) of a queued entry. An entry that does not parse is kept as
    an "unreadable" record with its first bytes: the trail shows what came in, nothing is dropped."""
    kind, separator, body_json = raw.partition(_SEPARATOR)
    try:
        body = orjson.loads(body_json)
        if not separator or not isinstance(body, dict):
            raise ValueError("not a kind and a JSON object")
        return kind.decode(), canonical_json(body), body
    except ValueError:  # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
        body = {"entry": raw[:256].hex()}
        return "unreadable", canonical_json(body), body


@dataclass
class _Head:
    length: int = -1  # -1: not read yet
    hash: str = GENESIS_HASH


@dataclass
class _Plan:
    records: list[AuditRecord]
    args: list[str | int] = field(default_factory=list)


class _Chain:
    """What both clients share: the head they last saw and how a batch becomes one script call."""

    def __init__(self, namespace: str, clock: Callable[[], float]) -> None:
        self.namespace = namespace
        self.clock = clock
        self.head = _Head()
        self.keys = [
            audit_key(namespace, "log"),
            audit_key(namespace, "pending"),
            audit_key(namespace, "kinds"),
        ]

    def plan(self, entries: Sequence[Encoded], consumed: int) -> _Plan:
        """The records that extend the head with ``entries`` (kind, body's canonical JSON, body), and
        the script's arguments that append them (consuming ``consumed`` queued entries)."""
        at = utc_stamp(self.clock())
        records: list[AuditRecord] = []
        stored: list[str] = []
        prev = self.head.hash
        for offset, (kind, body_json, body) in enumerate(entries):
            record, text = seal_encoded(self.head.length + offset, prev, kind, body_json, at, body)
            records.append(record)
            stored.append(text)
            prev = record.hash
        index = [
            (audit_key(self.namespace, name, str(r.body[name])), r.seq)
            for r in records
            for name in INDEXED_FIELDS
            if r.body.get(name) not in (None, "")
        ]
        kinds: dict[str, int] = {}
        for record in records:
            kinds[record.kind] = kinds.get(record.kind, 0) + 1
        args: list[str | int] = [self.head.length, consumed, len(records), *stored]
        args += [len(index), *(part for pair in index for part in pair)]
        args += [part for pair in kinds.items() for part in pair]
        return _Plan(records, args)

    def advance(self, plan: _Plan) -> None:
        if plan.records:
            self.head = _Head(plan.records[-1].seq + 1, plan.records[-1].hash)

    def read_head(self, length: int, tail: bytes | None) -> None:
        if length == 0 or tail is None:
            self.head = _Head(0, GENESIS_HASH)
            return
        try:
            last = AuditRecord.from_json(tail)
        except ValueError as error:
            raise AuditChainError(f"the audit log's last record is unreadable: {error}") from error
        self.head = _Head(length, last.hash)


class AuditTrail:
    """The audit trail of one namespace, for synchronous code (CLIs, plugins, tools)."""

    def __init__(
        self, client: redis.Redis, namespace: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self._chain = _Chain(namespace, clock)
        self._script = client.register_script(_APPEND)
        self._lock = threading.Lock()

    @property
    def namespace(self) -> str:
        return self._chain.namespace

    def append(self, kind: str, body: Mapping[str, Any]) -> AuditRecord:
        (record,) = self.append_many([(kind, body)])
        return record

    def append_many(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[AuditRecord]:
        """Append in order; the records come back sealed. Large batches go in chunks of ``BATCH``."""
        with self._lock:
            records: list[AuditRecord] = []
            for start in range(0, len(entries), BATCH):
                records += self._append(encoded(entries[start : start + BATCH]), consumed=0)
            return records

    def seal_pending(self, limit: int = BATCH) -> list[AuditRecord]:
        """Move up to ``limit`` queued events into the chain, oldest first."""
        with self._lock:
            for _ in range(MAX_ATTEMPTS):
                raw = self.client.lrange(self._chain.keys[1], 0, limit - 1)
                if not raw:
                    return []
                entries = [read_pending(_raw(r)) for r in raw]
                if self._chain.head.length < 0:
                    self._refresh()
                plan = self._chain.plan(entries, consumed=len(raw))
                if self._script(keys=self._chain.keys, args=plan.args) == -1:
                    self._chain.advance(plan)
                    return plan.records
                self._refresh()
            raise AuditChainError(f"could not seal the pending queue in {MAX_ATTEMPTS} attempts")

    def _append(self, entries: Sequence[Encoded], consumed: int) -> list[AuditRecord]:
        if self._chain.head.length < 0:
            self._refresh()
        for _ in range(MAX_ATTEMPTS):
            plan = self._chain.plan(entries, consumed)
            if self._script(keys=self._chain.keys, args=plan.args) == -1:
                self._chain.advance(plan)
                return plan.records
            self._refresh()
        raise AuditChainError(f"could not append to the audit log in {MAX_ATTEMPTS} attempts")

    def _refresh(self) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.llen(self._chain.keys[0])
            pipe.lindex(self._chain.keys[0], -1)
            length, tail = pipe.execute()
        self._chain.read_head(int(length), tail)

    def length(self) -> int:
        return int(self.client.llen(self._chain.keys[0]))

    def pending(self) -> int:
        return int(self.client.llen(self._chain.keys[1]))

    def entries(self, start: int = 0, chunk: int = CHUNK) -> Iterator[bytes]:
        """Every stored record from ``start``, raw, as the log holds them now (read a chunk at a time)."""
        while True:
            raw = self.client.lrange(self._chain.keys[0], start, start + chunk - 1)
            yield from (_raw(r) for r in raw)
            if len(raw) < chunk:
                return
            start += chunk

    def record(self, seq: int) -> AuditRecord | None:
        raw = self.client.lindex(self._chain.keys[0], seq)
        return None if raw is None else AuditRecord.from_json(_raw(raw))

    def case_seqs(self, case: str) -> list[int]:
        return [int(_raw(s)) for s in self.client.zrange(audit_key(self.namespace, "case", case), 0, -1)]

    def kinds(self) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.client.hgetall(self._chain.keys[2]).items()}


class AsyncAuditTrail:
    """The same trail for asyncio code (the gateway's services and pages)."""

    def __init__(
        self, client: aioredis.Redis, namespace: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self._chain = _Chain(namespace, clock)
        self._script = client.register_script(_APPEND)
        self._lock: Any = None  # an asyncio.Lock, made in the running loop

    @property
    def namespace(self) -> str:
        return self._chain.namespace

    async def append(self, kind: str, body: Mapping[str, Any]) -> AuditRecord:
        (record,) = await self.append_many([(kind, body)])
        return record

    async def append_many(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[AuditRecord]:
        async with self._locked():
            records: list[AuditRecord] = []
            for start in range(0, len(entries), BATCH):
                records += await self._append(encoded(entries[start : start + BATCH]))
            return records

    async def _append(self, entries: Sequence[Encoded]) -> list[AuditRecord]:
        if self._chain.head.length < 0:
            await self._refresh()
        for _ in range(MAX_ATTEMPTS):
            plan = self._chain.plan(entries, consumed=0)
            if await self._script(keys=self._chain.keys, args=plan.args) == -1:
                self._chain.advance(plan)
                return plan.records
            await self._refresh()
        raise AuditChainError(f"could not append to the audit log in {MAX_ATTEMPTS} attempts")

    async def seal_pending(self, limit: int = BATCH) -> list[AuditRecord]:
        async with self._locked():
            for _ in range(MAX_ATTEMPTS):
                raw = await self.client.lrange(self._chain.keys[1], 0, limit - 1)
                if not raw:
                    return []
                entries = [read_pending(_raw(r)) for r in raw]
                if self._chain.head.length < 0:
                    await self._refresh()
                plan = self._chain.plan(entries, consumed=len(raw))
                if await self._script(keys=self._chain.keys, args=plan.args) == -1:
                    self._chain.advance(plan)
                    return plan.records
                await self._refresh()
        raise AuditChainError(f"could not seal the pending queue in {MAX_ATTEMPTS} attempts")

    async def pending(self) -> int:
        return int(await self.client.llen(self._chain.keys[1]))

    async def last(self) -> AuditRecord | None:
        """The chain's last record as stored now (whoever appended it)."""
        raw = await self.client.lindex(self._chain.keys[0], -1)
        return None if raw is None else AuditRecord.from_json(_raw(raw))

    async def length(self) -> int:
        return int(await self.client.llen(self._chain.keys[0]))

    async def _refresh(self) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.llen(self._chain.keys[0])
            pipe.lindex(self._chain.keys[0], -1)
            length, tail = await pipe.execute()
        self._chain.read_head(int(length), tail)

    def _locked(self) -> Any:
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock


def _raw(value: object) -> bytes:
    """A Redis reply as bytes (the clients here do not decode responses)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
