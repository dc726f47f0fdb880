"""The frame ledger in Redis: what was accepted, what is in flight, what has a verdict.

It makes three promises the rest of the runtime relies on:
- a frame is acknowledged only once its record is here (``accept``), with its payload or claim check;
- a frame gets exactly one verdict, however often it is processed (``finalize`` is idempotent);
- accepted = verdicts + fallbacks + in flight, at every moment (both scripts are atomic).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import redis.asyncio as aioredis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError, WatchError

from smartcustoms.core.audit import (
    adjudication_body,
    audit_key,
    enqueue_event,
    pending_entry,
    verdict_body,
)
from smartcustoms.core.frames import SCOPE_SEPARATOR, scoped_frame_id
from smartcustoms.core.keys import redis_prefix
from smartcustoms.core.metrics import (
    ADJUDICATION_OUTCOMES,
    ALERTS_ADJUDICATED,
    CONSERVATION_FRAMES,
    CONSERVATION_IMBALANCE,
    CONSERVATION_STATES,
    RECORD_ALERTS_ADJUDICATED,
    SHADOW_ADJUDICATED,
    SHADOW_ADJUDICATION_OUTCOMES,
    CollectedMetric,
)
from smartcustoms.core.preview import Preview
from smartcustoms.core.selections import alert_selections, resolve_record_outcomes
from smartcustoms.core.verdicts import shadow_adjudications
from smartcustoms.v1 import frame_pb2, results_pb2

if TYPE_CHECKING:
    from smartcustoms.core.config import Config

_ACCEPT = """
-- Records a batch of frames, in order, as one atomic step.
-- KEYS: inflight, deadline, accepted, inflight_source, inflight_by_source, inflight_size,
--       inflight_bytes_by_source; then per frame: dedupe, verdict, owner, written (the writing gateway's
--       admissions recorded)
-- ARGV: dedupe_ttl_s, owner_ttl_s, written_ttl_s; then per frame: frame_id, record, dedupe (0/1),
--       source_id, payload bytes, admission token ('' for none), redelivery deadline
-- Returns outcome, frame id for each frame in turn.
local answers = {}
for i = 0, (#KEYS - 7) / 4 - 1 do
  local k, a = 8 + 4 * i, 4 + 7 * i
  local frame_id, source = ARGV[a], ARGV[a + 3]
  local answered = false
  if ARGV[a + 2] == '1' then
    local previous = redis.call('GET', KEYS[k])
    if previous then
      answers[#answers + 1] = 1
      answers[#answers + 1] = previous
      answered = true
    end
  end
  if not answered then
    local owner = redis.call('GET', KEYS[k + 2])
    if owner and owner ~= source then
      answers[#answers + 1] = 3
      answers[#answers + 1] = frame_id
    elseif redis.call('HEXISTS', KEYS[1], frame_id) == 1 or redis.call('EXISTS', KEYS[k + 1]) == 1 then
      answers[#answers + 1] = 2
      answers[#answers + 1] = frame_id
    else
      redis.call('HSET', KEYS[1], frame_id, ARGV[a + 1])
      redis.call('HSET', KEYS[4], frame_id, source)
      redis.call('HINCRBY', KEYS[5], source, 1)
      redis.call('HSET', KEYS[6], frame_id, ARGV[a + 4])
      redis.call('HINCRBY', KEYS[7], source, ARGV[a + 4])
      redis.call('ZADD', KEYS[2], ARGV[a + 6], frame_id)
      redis.call('INCR', KEYS[3])
      redis.call('SET', KEYS[k + 2], source, 'EX', ARGV[2])
      if ARGV[a + 2] == '1' then redis.call('SET', KEYS[k], frame_id, 'EX', ARGV[1]) end
      local token, written = ARGV[a + 5], KEYS[k + 3]
      if token ~= '' and redis.call('SADD', written, token) == 1 and redis.call('SCARD', written) == 1 then
        redis.call('EXPIRE', written, ARGV[3])
      end
      answers[#answers + 1] = 0
      answers[#answers + 1] = frame_id
    end
  end
end
return answers
"""

WRITTEN_TTL_S = 600  # a gateway's recorded admissions, when it stops reading them (it died)

_FINALIZE = """
-- Stores a batch of verdicts, in order, as one atomic step: a frame's verdict is stored once.
-- KEYS: inflight, deadline, attempts, verdicts counter, fallbacks counter, alerts, audit_pending,
--       inflight_source, inflight_by_source, inflight_size, inflight_bytes_by_source;
--       then per verdict: verdict, latest_source, latest_conveyance ('' for none)
-- ARGV: verdict_ttl_s, alerts_kept; then per verdict: frame_id, verdict, fallback (0/1),
--       alert ('' for none), audit entry
-- Returns, per verdict in turn, the frame's in-flight record, or false if it had its verdict already.
local records = {}
for i = 0, (#KEYS - 11) / 3 - 1 do
  local k, a = 12 + 3 * i, 3 + 5 * i
  local frame_id = ARGV[a]
  local record = redis.call('HGET', KEYS[1], frame_id)
  if not record then
    records[#records + 1] = false
  else
    redis.call('HDEL', KEYS[1], frame_id)
    local source = redis.call('HGET', KEYS[8], frame_id)
    if source then
      redis.call('HDEL', KEYS[8], frame_id)
      if redis.call('HINCRBY', KEYS[9], source, -1) <= 0 then redis.call('HDEL', KEYS[9], source) end
      local size = redis.call('HGET', KEYS[10], frame_id)
      if size then
        redis.call('HDEL', KEYS[10], frame_id)
        if redis.call('HINCRBY', KEYS[11], source, 0 - tonumber(size)) <= 0 then
          redis.call('HDEL', KEYS[11], source)
        end
      end
    end
    redis.call('ZREM', KEYS[2], frame_id)
    redis.call('HDEL', KEYS[3], frame_id)
    if ARGV[a + 2] == '1' then redis.call('INCR', KEYS[5]) else redis.call('INCR', KEYS[4]) end
    redis.call('SET', KEYS[k], ARGV[a + 1], 'EX', ARGV[1])
    redis.call('SET', KEYS[k + 1], ARGV[a + 1], 'EX', ARGV[1])
    if KEYS[k + 2] ~= '' then redis.call('SET', KEYS[k + 2], ARGV[a + 1], 'EX', ARGV[1]) end
    if ARGV[a + 3] ~= '' then
      redis.call('LPUSH', KEYS[6], ARGV[a + 3])
      redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[2]) - 1)
    end
    redis.call('RPUSH', KEYS[7], ARGV[a + 4])
    records[#records + 1] = record
  end
end
return records
"""
FINALIZE_BATCH = 512  # verdicts in one script call: bounds how long one call holds Redis


class AcceptOutcome:
    ACCEPTED = 0
    DUPLICATE = 1  # (source, sequence) seen before: acknowledged, not processed again
    ID_IN_USE = 2  # another frame of the same source already holds this frame id
    OTHER_SOURCE = 3  # (internal) another source holds this frame id: the frame is scoped to its own
    UNRECORDED = 4  # the second call, scoping it, failed (the error's text in place of an id): not recorded


@dataclass(frozen=True)
class Counts:
    accepted: int
    verdicts: int
    fallbacks: int
    in_flight: int

    @property
    def imbalance(self) -> int:
        """Zero when every accepted frame is accounted for."""
        return self.accepted - self.verdicts - self.fallbacks - self.in_flight


class Admission(NamedTuple):
    """A frame the gateway ``writer``'s push-back let in, under a ``token`` of that gateway's own."""

    writer: str
    token: str


@dataclass(frozen=True)
class InFlightFigures:
    """Frames awaiting their verdicts: in all, per source, and their payload bytes per source."""

    frames: int
    by_source: dict[str, int]
    bytes_by_source: dict[str, int]
    written: frozenset[str] = frozenset()  # the reader's admissions recorded since its last read

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_source.values())


class Ledger:
    """Async access to the ledger of one namespace."""

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        *,
        verdict_ttl_s: int = 30 * 86400,
        dedupe_ttl_s: int = 86400,
        alerts_kept: int = 10_000,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = redis_prefix(namespace)
        self.verdict_ttl_s = verdict_ttl_s
        self.dedupe_ttl_s = dedupe_ttl_s
        self.alerts_kept = alerts_kept
        self._accept = client.register_script(_ACCEPT)
        self._finalize = client.register_script(_FINALIZE)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def accept(
        self, frame: frame_pb2.Frame, redeliver_after_s: float, admission: Admission | None = None
    ) -> tuple[int, str]:
        """Record a frame as in flight; return (AcceptOutcome, frame id it is known under).
        ``admission``: the gateway push-back's name for the frame, noted beside the record so that the
        gateway's next ``in_flight_figures`` knows the frame is counted there.

        Frame ids are scoped per source: each id is owned by the source that used it first (for as
        long as verdicts are kept). A frame whose id another source owns is recorded as
        ``<source id>/<frame id>`` instead (``frame.frame_id`` is rewritten to it), so no source can
        take another's ids first and have its frames refused.
        """
        [(outcome, known_as)] = await self.accept_many([(frame, admission)], redeliver_after_s)
        if outcome == AcceptOutcome.UNRECORDED:
            raise RedisError(known_as)
        return outcome, known_as

    async def accept_many(
        self, frames: Sequence[tuple[frame_pb2.Frame, Admission | None]], redeliver_after_s: float
    ) -> list[tuple[int, str]]:
        """``accept`` for a batch, in order, in one script call (two when a frame's id must be scoped to
        its source): the gateway records every frame assembled since its last call at once. Raises
        RedisError when the first call fails (nothing recorded); when only the second fails, the frames
        the first recorded keep their outcome and those it would have scoped are UNRECORDED."""
        if not frames:
            return []
        answers = await self._accept_as(frames, redeliver_after_s)
        others = [i for i, (outcome, _) in enumerate(answers) if outcome == AcceptOutcome.OTHER_SOURCE]
        scoped: list[int] = []
        for i in others:
            frame = frames[i][0]
            if frame.frame_id.startswith(frame.source_id + SCOPE_SEPARATOR):
                answers[i] = (AcceptOutcome.ID_IN_USE, answers[i][1])  # in its own scope already
            else:
                scoped.append(i)
        if not scoped:
            return answers
        originals = [frames[i][0].frame_id for i in scoped]
        for i in scoped:
            frame = frames[i][0]
            frame.frame_id = scoped_frame_id(frame.source_id, frame.frame_id)
        try:
            again = await self._accept_as([frames[i] for i in scoped], redeliver_after_s)
        except RedisError as error:
            for i, original in zip(scoped, originals, strict=True):
                frames[i][0].frame_id = original
                answers[i] = (AcceptOutcome.UNRECORDED, str(error) or repr(error))
            return answers
        for i, original, (outcome, known_as) in zip(scoped, originals, again, strict=True):
            if outcome != AcceptOutcome.ACCEPTED:
                frames[i][0].frame_id = original
            if outcome == AcceptOutcome.OTHER_SOURCE:
                outcome = AcceptOutcome.ID_IN_USE
            answers[i] = (outcome, known_as)
        return answers

    async def _accept_as(
        self, frames: Sequence[tuple[frame_pb2.Frame, Admission | None]], redeliver_after_s: float
    ) -> list[tuple[int, str]]:
        keys = [
            self.key("inflight"),
            self.key("deadline"),
            self.key("count", "accepted"),
            self.key("inflight_source"),
            self.key("inflight_by_source"),
            self.key("inflight_size"),
            self.key("inflight_bytes_by_source"),
        ]
        args: list[bytes | str | int | float] = [self.dedupe_ttl_s, self.verdict_ttl_s, WRITTEN_TTL_S]
        deadline_s = time.time() + redeliver_after_s
        for n, (frame, admission) in enumerate(frames):
            keys += (
                self.key("dedupe", frame.source_id, str(frame.sequence)),
                self.key("verdict", frame.frame_id),
                self.key("owner", frame.frame_id),
                self.key("written", admission.writer if admission else ""),
            )
            args += (
                frame.frame_id,
                frame.SerializeToString(),
                "1" if frame.sequence > 0 else "0",
                frame.source_id,
                frame.payload_bytes,
                admission.token if admission else "",
                repr(deadline_s + n * 1e-6),  # a batch's frames come due in its order
            )
        flat = await self._accept(keys=keys, args=args)
        return [(int(flat[j]), _text(flat[j + 1])) for j in range(0, len(flat), 2)]

    async def finalize(
        self, verdict: results_pb2.Verdict, alert: results_pb2.Alert | None
    ) -> frame_pb2.Frame | None:
        """Store a frame's verdict once; return its in-flight record, or None if it had one already."""
        (record,) = await self.finalize_many([(verdict, alert)])
        return record

    async def finalize_many(
        self, items: Sequence[tuple[results_pb2.Verdict, results_pb2.Alert | None]]
    ) -> list[frame_pb2.Frame | None]:
        """``finalize`` for a batch, in order: one script call per ``FINALIZE_BATCH`` verdicts (EVALSHA,
        no pipeline: redis-py's pipeline asks Redis whether its scripts exist on every execute)."""
        records: list[frame_pb2.Frame | None] = []
        for start in range(0, len(items), FINALIZE_BATCH):
            keys, args = self._finalize_call(items[start : start + FINALIZE_BATCH])
            answers = await self._finalize(keys=keys, args=args)
            records += [None if r is None else frame_pb2.Frame.FromString(_raw(r)) for r in answers]
        return records

    def _finalize_call(
        self, items: Sequence[tuple[results_pb2.Verdict, results_pb2.Alert | None]]
    ) -> tuple[list[str], list[bytes | str | int | float]]:
        keys = [
            self.key("inflight"),
            self.key("deadline"),
            self.key("attempts"),
            self.key("count", "verdict"),
            self.key("count", "fallback"),
            self.key("alerts"),
            audit_key(self.namespace, "pending"),  # sealed into the audit trail by the gateway's auditor
            self.key("inflight_source"),  # the frame's source, recorded at accept
            self.key("inflight_by_source"),
            self.key("inflight_size"),  # its payload's bytes, recorded at accept
            self.key("inflight_bytes_by_source"),
        ]
        args: list[bytes | str | int | float] = [self.verdict_ttl_s, self.alerts_kept]
        for verdict, alert in items:
            keys += (
                self.key("verdict", verdict.frame_id),
                self.key("latest", "source", verdict.source_id),
                self.key("latest", "conveyance", verdict.conveyance_id) if verdict.conveyance_id else "",
            )
            args += (
                verdict.frame_id,
                verdict.SerializeToString(),
                "1" if verdict.decision == results_pb2.DECISION_MANUAL_INSPECTION else "0",
                alert.SerializeToString() if alert is not None else b"",
                pending_entry("verdict", verdict_body(verdict)),
            )
        return keys, args

    async def due(self, now_s: float, limit: int) -> list[str]:
        """Frame ids whose redelivery deadline has passed."""
        ids = await self.client.zrangebyscore(self.key("deadline"), "-inf", now_s, start=0, num=limit)
        return [_text(i) for i in ids]

    async def claim_redelivery(
        self, frame_id: str, next_deadline_s: float
    ) -> tuple[frame_pb2.Frame, int] | None:
        """Push a due frame's deadline on and count the attempt; None if it got its verdict meanwhile."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(self.key("inflight"), frame_id)
            pipe.zadd(self.key("deadline"), {frame_id: next_deadline_s}, xx=True)
            pipe.hincrby(self.key("attempts"), frame_id, 1)
            record, _, attempts = await pipe.execute()
        if record is None:
            await self.client.hdel(self.key("attempts"), frame_id)
            return None
        return frame_pb2.Frame.FromString(_raw(record)), int(attempts)

    async def unclaim(self, frame_id: str) -> None:
        """Take back a claim whose publish failed: a delivery the broker never took is not an attempt."""
        await self.client.hincrby(self.key("attempts"), frame_id, -1)

    async def in_flight_record(self, frame_id: str) -> frame_pb2.Frame | None:
        record = await self.client.hget(self.key("inflight"), frame_id)
        return None if record is None else frame_pb2.Frame.FromString(_raw(record))

    async def verdict(self, frame_id: str) -> results_pb2.Verdict | None:
        raw = await self.client.get(self.key("verdict", frame_id))
        return None if raw is None else results_pb2.Verdict.FromString(_raw(raw))

    async def latest(self, kind: str, identifier: str) -> results_pb2.Verdict | None:
        """Latest verdict for a ``source`` or a ``conveyance``."""
        raw = await self.client.get(self.key("latest", kind, identifier))
        return None if raw is None else results_pb2.Verdict.FromString(_raw(raw))

    async def alerts(self, limit: int = 100) -> list[results_pb2.Alert]:
        raw = await self.client.lrange(self.key("alerts"), 0, limit - 1)
        return [results_pb2.Alert.FromString(_raw(item)) for item in raw]

    async def store_preview(self, frame_id: str, preview: Preview) -> None:
        key = self.key("preview", frame_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "content_type": preview.content_type,
                    "data": preview.data,
                    "scale": repr(preview.scale),
                    "slice": str(preview.slice_index),
                    "colour": preview.colour,
                },
            )
            pipe.expire(key, self.verdict_ttl_s)
            await pipe.execute()

    async def preview(self, frame_id: str) -> Preview | None:
        fields = await self.client.hgetall(self.key("preview", frame_id))
        if not fields:
            return None
        return Preview(
            _text(fields[b"content_type"]),
            _raw(fields[b"data"]),
            float(_text(fields[b"scale"])),
            int(_text(fields[b"slice"])),
            _raw(fields.get(b"colour", b"")),
        )

    async def adjudicate(
        self,
        frame_id: str,
        outcome: int,
        officer: str,
        note: str = "",
        record_outcomes: Sequence[results_pb2.RecordOutcome] = (),
    ) -> results_pb2.Verdict:
        """Store an officer's decision with the verdict; LookupError if none, ValueError if it is clear
        or ``record_outcomes`` names a record the alert did not select.

        Deciding again makes the new decision the verdict's, keeps the earlier one in
        ``earlier_adjudications`` (and in the audit trail), and moves the per-class tallies with it. On a
        record frame the decision holds one outcome per selected record (``resolve_record_outcomes``).
        """
        key = self.key("verdict", frame_id)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise LookupError(f"no verdict for frame {frame_id}")
                    verdict = results_pb2.Verdict.FromString(_raw(raw))
                    if verdict.decision == results_pb2.DECISION_CLEAR:
                        raise ValueError(f"frame {frame_id} was cleared: there is no alert to adjudicate")
                    resolved = resolve_record_outcomes(verdict, outcome, record_outcomes)
                    previous = verdict.adjudication.outcome if verdict.HasField("adjudication") else 0
                    if previous:
                        verdict.earlier_adjudications.append(verdict.adjudication)
                    verdict.adjudication.outcome = outcome  # type: ignore[assignment]  # an enum number
                    verdict.adjudication.officer = officer
                    verdict.adjudication.note = note
                    verdict.adjudication.decided_time.GetCurrentTime()
                    del verdict.adjudication.record_outcomes[:]
                    verdict.adjudication.record_outcomes.extend(resolved)
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    pipe.set(key, verdict.SerializeToString(), keepttl=True)
                    self._tally(pipe, verdict, previous, -1)
                    self._tally(pipe, verdict, outcome, 1)
                    enqueue_event(pipe, self.namespace, "adjudication", adjudication_body(verdict))
                    await pipe.execute()
                    return verdict
                except WatchError:
                    continue

    def _tally(self, pipe: Any, verdict: results_pb2.Verdict, outcome: int, step: int) -> None:
        """Move the per-class tallies of an adjudication (and of the shadow plugins' scores, and of the
        risk plugins whose record selections raised it) by ``step``."""
        if not outcome:
            return
        for label in adjudication_labels(verdict):
            pipe.hincrby(self.key(ADJUDICATED_TALLY), f"{label}|{_outcome_name(outcome)}", step)
        confirmed = outcome == results_pb2.ADJUDICATION_OUTCOME_CONFIRMED
        for plugin, label, scored in shadow_adjudications(verdict, confirmed):
            for other in SHADOW_ADJUDICATION_OUTCOMES:  # every outcome of a class exists, so ratios have data
                pipe.hincrby(self.key(SHADOW_ADJUDICATED_TALLY), f"{plugin}|{label}|{other}", 0)
            pipe.hincrby(self.key(SHADOW_ADJUDICATED_TALLY), f"{plugin}|{label}|{scored}", step)
        records = self.key(RECORD_ADJUDICATED_TALLY)
        for plugin, basis in alert_selections(verdict):
            for other in ADJUDICATION_OUTCOMES:  # both outcomes exist, so the confirmed share has data
                pipe.hincrby(records, f"{plugin}|{basis}|{other}", 0)
            pipe.hincrby(records, f"{plugin}|{basis}|{_outcome_name(outcome)}", step)

    async def in_flight(self) -> int:
        """Frames accepted and not yet decided (one round trip: the gateway's push-back reads it often)."""
        return int(await self.client.hlen(self.key("inflight")))

    async def in_flight_figures(self, writer: str = "") -> InFlightFigures:
        """Frames accepted and not yet decided, in total and per source, and their payload bytes per
        source, in one round trip (the gateway's push-back reads them every 100 ms). ``writer``: also
        the admissions of that gateway recorded since its last read (those the figures now count),
        taken from the ledger in the same transaction."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hlen(self.key("inflight"))
            pipe.hgetall(self.key("inflight_by_source"))
            pipe.hgetall(self.key("inflight_bytes_by_source"))
            if writer:
                pipe.smembers(self.key("written", writer))
                pipe.delete(self.key("written", writer))
            total, by_source, bytes_by_source, *written = await pipe.execute()
        return InFlightFigures(
            int(total),
            {_text(source): int(count) for source, count in by_source.items()},
            {_text(source): int(size) for source, size in bytes_by_source.items()},
            frozenset(_text(token) for token in written[0]) if written else frozenset(),
        )

    async def counts(self) -> Counts:
        return counts_from(await self._count_values())

    async def _count_values(self) -> Sequence[object]:
        async with self.client.pipeline(transaction=True) as pipe:
            for name in ("accepted", "verdict", "fallback"):
                pipe.get(self.key("count", name))
            pipe.hlen(self.key("inflight"))
            values: Sequence[object] = await pipe.execute()
        return values


ADJUDICATED_TALLY = "adjudicated"
SHADOW_ADJUDICATED_TALLY = "shadow_adjudicated"
RECORD_ADJUDICATED_TALLY = "record_adjudicated"


def adjudication_labels(verdict: results_pb2.Verdict) -> list[str]:
    """The classes an adjudication counts against: each detected label, or the decision itself."""
    labels = sorted({d.label for r in verdict.results for d in r.detections})
    return labels or [results_pb2.Decision.Name(verdict.decision).removeprefix("DECISION_").lower()]


def _outcome_name(outcome: int) -> str:
    return results_pb2.AdjudicationOutcome.Name(outcome).removeprefix("ADJUDICATION_OUTCOME_").lower()


def _raw(reply: object) -> bytes:
    """A Redis reply as bytes (the client is not decoding, so it is bytes already)."""
    return reply if isinstance(reply, bytes) else str(reply).encode()


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def counts_from(values: Sequence[object]) -> Counts:
    accepted, verdicts, fallbacks, in_flight = (int(v or 0) for v in values)  # type: ignore[call-overload]  # redis replies are bytes | int | None
    return Counts(accepted, verdicts, fallbacks, in_flight)


class ConservationCollector(Collector):
    """Exports the ledger's counts at scrape time: accepted = verdicts + fallbacks + in flight.

    Reads Redis with a short-lived synchronous client, so any process can register it.
    """

    def __init__(self, redis_url: str, namespace: str) -> None:
        import redis as sync_redis

        self._client = sync_redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._prefix = redis_prefix(namespace)

    def read(self) -> Counts:
        pipe = self._client.pipeline(transaction=True)
        for name in ("accepted", "verdict", "fallback"):
            pipe.get(f"{self._prefix}count:{name}")
        pipe.hlen(f"{self._prefix}inflight")
        return counts_from(pipe.execute())

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        counts = self.read()
        frames = _family(CONSERVATION_FRAMES)
        values = (counts.accepted, counts.verdicts, counts.fallbacks, counts.in_flight)
        for state, value in zip(CONSERVATION_STATES, values, strict=True):
            frames.add_metric([state], value)
        yield frames
        yield GaugeMetricFamily(
            CONSERVATION_IMBALANCE.name, CONSERVATION_IMBALANCE.documentation, value=counts.imbalance
        )


class TallyCollector(Collector):
    """Exports a Redis hash of tallies (fields ``a|b|c`` -> count) as one gauge: officers' decisions
    per class, shadow plugins scored against them, risk plugins' record alerts. Every gateway shares
    the same counts."""

    def __init__(self, redis_url: str, namespace: str, tally: str, metric: CollectedMetric) -> None:
        import redis as sync_redis

        self._client = sync_redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._key = f"{redis_prefix(namespace)}{tally}"
        self._metric = metric

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        family = _family(self._metric)
        for field, value in sorted(self._client.hgetall(self._key).items()):
            parts = _text(field).split("|")
            if len(parts) == len(self._metric.labels):
                family.add_metric(parts, int(value))
        yield family


def adjudication_collectors(redis_url: str, namespace: str) -> list[Collector]:
    return [
        TallyCollector(redis_url, namespace, ADJUDICATED_TALLY, ALERTS_ADJUDICATED),
        TallyCollector(redis_url, namespace, SHADOW_ADJUDICATED_TALLY, SHADOW_ADJUDICATED),
        TallyCollector(redis_url, namespace, RECORD_ADJUDICATED_TALLY, RECORD_ALERTS_ADJUDICATED),
    ]


def _family(metric: CollectedMetric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.documentation, labels=list(metric.labels))


def ledger_for(config: Config, client: aioredis.Redis) -> Ledger:
    """The ledger of a configuration's namespace, with its retention settings."""
    return Ledger(
        client,
        config.namespace,
        verdict_ttl_s=config.redis.verdict_ttl_s,
        dedupe_ttl_s=config.redis.dedupe_ttl_s,
        alerts_kept=config.redis.alerts_kept,
    )
