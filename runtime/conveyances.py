"""Conveyances in Redis: the parts the fusion stage joined, its open windows, its decisions.

Two atomic scripts keep the conservation law per conveyance, opened = decided + timed_out + open, true
at every moment, across worker restarts and with several workers:

- ``observe`` adds a frame's part once (a redelivered verdict is a no-op); the conveyance's first part
  opens it (its window's deadline goes into the ``open`` set), a part after its decision re-opens it
  (into the ``reopened`` set, due at once);
- ``decide`` stores a decision only if nothing changed since the caller read the parts (same version,
  same number of parts) and the conveyance still awaits one; it moves it out of its set, counts it and
  leaves the decision in an outbox until it has been published.

Keys (under the namespace's prefix, ``conveyance:``): ``meta:<id>`` (hash: opened_s, deadline_s,
version), ``parts:<id>`` (hash: frame id -> ConveyancePart), ``decision:<id>`` (the latest decision),
``history:<id>`` (every version), the sorted sets ``open`` and ``reopened`` (id -> due time), the hash
``outbox`` ("<version>:<id>" -> decision) and the counters ``count:*``. Everything about one
conveyance expires with the verdicts (``redis.verdict_ttl_s``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from smartcustoms.core.conveyance import OUTCOMES
from smartcustoms.core.keys import redis_prefix
from smartcustoms.core.metrics import (
    CONVEYANCE_IMBALANCE,
    CONVEYANCE_STATES,
    CONVEYANCES,
    CONVEYANCES_DECIDED,
)
from smartcustoms.v1 import conveyance_pb2

_OBSERVE = """
-- KEYS: meta, parts, open, reopened, count_opened, count_reopened
-- ARGV: conveyance_id, frame_id, part, accepted_s, window_s, ttl_s, now_s
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return {'duplicate', 0} end
redis.call('EXPIRE', KEYS[2], ARGV[6])
local version = redis.call('HGET', KEYS[1], 'version')
local accepted = tonumber(ARGV[4])
if not version then
  local deadline = accepted + tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'opened_s', ARGV[4], 'deadline_s', tostring(deadline), 'version', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  redis.call('ZADD', KEYS[3], deadline, ARGV[1])
  redis.call('INCR', KEYS[5])
  return {'opened', 0}
end
if tonumber(version) == 0 then
  if accepted < tonumber(redis.call('HGET', KEYS[1], 'opened_s')) then  -- an earlier frame came later
    local deadline = accepted + tonumber(ARGV[5])
    redis.call('HSET', KEYS[1], 'opened_s', ARGV[4], 'deadline_s', tostring(deadline))
    redis.call('ZADD', KEYS[3], 'XX', deadline, ARGV[1])
  end
  return {'joined', 0}
end
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[1])
redis.call('INCR', KEYS[6])
return {'late', tonumber(version)}
"""

_DECIDE = """
-- KEYS: meta, parts, open, reopened, decision, history, outbox, counter ('' for none)
-- ARGV: conveyance_id, version read, parts read, decision, ttl_s, outbox field
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return -1 end
local pending = KEYS[3]
if tonumber(version) > 0 then pending = KEYS[4] end
if not redis.call('ZSCORE', pending, ARGV[1]) then return -1 end
if tonumber(version) ~= tonumber(ARGV[2]) or redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', tonumber(version) + 1)
redis.call('ZREM', pending, ARGV[1])
redis.call('SET', KEYS[5], ARGV[4], 'EX', ARGV[5])
redis.call('RPUSH', KEYS[6], ARGV[4])
redis.call('EXPIRE', KEYS[6], ARGV[5])
redis.call('HSET', KEYS[7], ARGV[6], ARGV[4])
if KEYS[8] ~= '' then redis.call('INCR', KEYS[8]) end
return 1
"""


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Stored:
    """What ``decide`` answers."""

    DECIDED = 1
    STALE = 0  # a part or a decision came in meanwhile: read again and retry
    NOTHING = -1  # the conveyance awaits no decision (decided by someone else, or unknown)


@dataclass(frozen=True)
class Observed:
    status: str  # "opened", "joined" (before its first decision), "late" (after it) or "duplicate"
    version: int


@dataclass(frozen=True)
class Snapshot:
    """A conveyance as read in one transaction."""

    conveyance_id: str
    opened_s: float
    deadline_s: float
    version: int  # decisions made so far
    reopened: bool  # a late frame awaits a new decision
    parts: list[conveyance_pb2.ConveyancePart]


@dataclass(frozen=True)
class ConveyanceCounts:
    opened: int
    decided: dict[str, int]  # first decisions by outcome, timeouts apart
    timed_out: int
    open: int
    reopened: int

    @property
    def imbalance(self) -> int:
        """Zero when every opened conveyance has its first decision or is still in its window."""
        return self.opened - sum(self.decided.values()) - self.timed_out - self.open


class ConveyanceStore:
    """Async access to the conveyances of one namespace."""

    def __init__(self, client: aioredis.Redis, namespace: str, *, ttl_s: int = 30 * 86400) -> None:
        self.client = client
        self.prefix = f"{redis_prefix(namespace)}conveyance:"
        self.ttl_s = ttl_s
        self._observe = client.register_script(_OBSERVE)
        self._decide = client.register_script(_DECIDE)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def observe(
        self, items: Sequence[tuple[str, conveyance_pb2.ConveyancePart]], window_s: float, now_s: float
    ) -> list[Observed]:
        """Add each (conveyance id, part) once, in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for conveyance_id, part in items:
                accepted_s = _seconds(part.accepted_time) if part.HasField("accepted_time") else now_s
                keys = [
                    self.key("meta", conveyance_id),
                    self.key("parts", conveyance_id),
                    self.key("open"),
                    self.key("reopened"),
                    self.key("count", "opened"),
                    self.key("count", "reopened"),
                ]
                args: list[bytes | str | int | float] = [
                    conveyance_id,
                    part.frame_id,
                    part.SerializeToString(),
                    repr(min(accepted_s, now_s)),
                    repr(window_s),
                    self.ttl_s,
                    repr(now_s),
                ]
                await self._observe(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return [Observed(_text(status), int(version)) for status, version in replies]

    async def snapshot(self, conveyance_id: str) -> Snapshot | None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key("meta", conveyance_id))
            pipe.hgetall(self.key("parts", conveyance_id))
            pipe.zscore(self.key("reopened"), conveyance_id)
            meta, parts, reopened = await pipe.execute()
        if not meta:
            return None
        return Snapshot(
            conveyance_id,
            float(meta[b"opened_s"]),
            float(meta[b"deadline_s"]),
            int(meta[b"version"]),
            reopened is not None,
            [conveyance_pb2.ConveyancePart.FromString(raw) for raw in parts.values()],
        )

    async def decide(self, snapshot: Snapshot, decision: conveyance_pb2.ConveyanceDecision) -> int:
        """Store the decision made from ``snapshot`` (a ``Stored`` answer)."""
        conveyance_id = snapshot.conveyance_id
        if snapshot.version > 0:
            counter = ""
        elif decision.trigger == "timeout":
            counter = self.key("count", "timed_out")
        else:
            outcome = conveyance_pb2.ConveyanceOutcome.Name(decision.outcome)
            counter = self.key("count", "decided", outcome.removeprefix("CONVEYANCE_OUTCOME_").lower())
        keys = [
            self.key("meta", conveyance_id),
            self.key("parts", conveyance_id),
            self.key("open"),
            self.key("reopened"),
            self.key("decision", conveyance_id),
            self.key("history", conveyance_id),
            self.key("outbox"),
            counter,
        ]
        args: list[bytes | str | int | float] = [
            conveyance_id,
            snapshot.version,
            len(snapshot.parts),
            decision.SerializeToString(),
            self.ttl_s,
            outbox_field(decision),
        ]
        return int(await self._decide(keys=keys, args=args))

    async def due(self, now_s: float, limit: int) -> list[str]:
        """Conveyances whose window has closed or that a late frame re-opened, oldest first."""
        found: list[str] = []
        for name in ("reopened", "open"):
            ids = await self.client.zrangebyscore(self.key(name), "-inf", now_s, start=0, num=limit)
            found += [_text(i) for i in ids]
        return found

    async def outbox(self, limit: int) -> list[tuple[str, conveyance_pb2.ConveyanceDecision]]:
        """Decisions stored but not yet published (or whose publication was not confirmed)."""
        found = []
        async for field, raw in self.client.hscan_iter(self.key("outbox"), count=limit):
            found.append((_text(field), conveyance_pb2.ConveyanceDecision.FromString(raw)))
            if len(found) >= limit:
                break
        return found

    async def published(self, field: str) -> None:
        await self.client.hdel(self.key("outbox"), field)

    async def claim_outbox(self, owner: str, lease_s: float) -> bool:
        """One publisher at a time across workers, so a decision is published (and alerted) once;
        the lease lets another take over from a worker that died holding it."""
        return bool(await self.client.set(self.key("outbox", "lock"), owner, nx=True, px=int(lease_s * 1000)))

    async def release_outbox(self, owner: str) -> None:
        await self.client.eval(_RELEASE, 1, self.key("outbox", "lock"), owner)

    async def decision(self, conveyance_id: str) -> conveyance_pb2.ConveyanceDecision | None:
        raw = await self.client.get(self.key("decision", conveyance_id))
        return None if raw is None else conveyance_pb2.ConveyanceDecision.FromString(_raw(raw))

    async def history(self, conveyance_id: str) -> list[conveyance_pb2.ConveyanceDecision]:
        raw = await self.client.lrange(self.key("history", conveyance_id), 0, -1)
        return [conveyance_pb2.ConveyanceDecision.FromString(_raw(item)) for item in raw]

    async def counts(self) -> ConveyanceCounts:
        async with self.client.pipeline(transaction=True) as pipe:
            _count_commands(pipe, self.prefix)
            return counts_from(await pipe.execute())


def outbox_field(decision: conveyance_pb2.ConveyanceDecision) -> str:
    return f"{decision.version}:{decision.conveyance_id}"


def _count_commands(pipe: object, prefix: str) -> None:
    for name in ("opened", *(f"decided:{o}" for o in OUTCOMES), "timed_out", "reopened"):
        pipe.get(f"{prefix}count:{name}")  # type: ignore[attr-defined]  # sync or async pipeline
    pipe.zcard(f"{prefix}open")  # type: ignore[attr-defined]


def counts_from(values: Sequence[object]) -> ConveyanceCounts:
    numbers = [int(v or 0) for v in values]  # type: ignore[call-overload]  # redis replies: bytes | int | None
    opened, *decided, timed_out, reopened, still_open = numbers
    by_outcome = dict(zip(OUTCOMES, decided, strict=True))
    return ConveyanceCounts(opened, by_outcome, timed_out, still_open, reopened)


def _seconds(stamp: Timestamp) -> float:
    return stamp.ToNanoseconds() / 1e9


def _raw(reply: object) -> bytes:
    """A Redis reply as bytes (the client is not decoding, so it is bytes already)."""
    return reply if isinstance(reply, bytes) else str(reply).encode()


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


class ConveyanceCollector(Collector):
    """Exports the conveyances' counts at scrape time: opened = decided + timed_out + open."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        import redis as sync_redis

        self._client = sync_redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._prefix = f"{redis_prefix(namespace)}conveyance:"

    def read(self) -> ConveyanceCounts:
        pipe = self._client.pipeline(transaction=True)
        _count_commands(pipe, self._prefix)
        return counts_from(pipe.execute())

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        counts = self.read()
        states = GaugeMetricFamily(CONVEYANCES.name, CONVEYANCES.documentation, labels=["state"])
        values = (counts.opened, sum(counts.decided.values()), counts.timed_out, counts.open, counts.reopened)
        for state, value in zip(CONVEYANCE_STATES, values, strict=True):
            states.add_metric([state], value)
        yield states
        decided = GaugeMetricFamily(
            CONVEYANCES_DECIDED.name, CONVEYANCES_DECIDED.documentation, labels=["outcome"]
        )
        for outcome, value in counts.decided.items():
            decided.add_metric([outcome], value)
        yield decided
        yield GaugeMetricFamily(
            CONVEYANCE_IMBALANCE.name, CONVEYANCE_IMBALANCE.documentation, value=counts.imbalance
        )
