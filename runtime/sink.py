"""The verdict sink: store each frame's verdict once, release its payload, tell the result hooks."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import pluggy
from google.protobuf.message import DecodeError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from smartcustoms.core import preview, selections, verdicts
from smartcustoms.core.blobstore import BlobStore
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Decision, Modality
from smartcustoms.runtime import outage
from smartcustoms.runtime.ledger import FINALIZE_BATCH, Ledger
from smartcustoms.v1 import frame_pb2, results_pb2

if TYPE_CHECKING:
    from smartcustoms.runtime.screening import ScreeningFeed

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _unstored(messages: Sequence[bytes]) -> tuple[list[results_pb2.Verdict], list[bytes]]:
    """The verdicts of serialized VerdictBatch messages not ``stored`` already by the worker that decided
    them, and the messages that did not parse."""
    parsed: list[results_pb2.Verdict] = []
    bad = []
    for raw in messages:
        try:
            batch = results_pb2.VerdictBatch.FromString(raw)
        except DecodeError:
            bad.append(raw)
            continue
        if not batch.stored:
            parsed.extend(batch.verdicts)
    return parsed, bad


class VerdictSink:
    """Stores verdicts; ``shadow_compare`` names, per shadow plugin, the live plugins it is scored
    against (an empty set: every live plugin)."""

    def __init__(
        self,
        ledger: Ledger,
        store: BlobStore,
        pm: pluggy.PluginManager,
        sensor: Sensor,
        *,
        shadow_compare: Mapping[str, frozenset[str]] | None = None,
        screening: ScreeningFeed | None = None,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.pm = pm
        self.sensor = sensor
        self.shadow_compare = dict(shadow_compare or {})
        self.screening = screening  # screened lanes' X-ray frames go before screeners (runtime/screening.py)
        # payloads whose verdict is stored but whose release failed: tried again after each ledger call
        self._unreleased: collections.deque[frame_pb2.BlobRef] = collections.deque()

    async def store_batch(self, messages: Sequence[bytes]) -> list[bytes]:
        """Store the verdicts of serialized VerdictBatch messages, but for batches already ``stored`` by
        the worker that decided them; return the messages that did not parse."""
        parsed, bad = _unstored(messages)
        if parsed:
            await self.store_verdicts(parsed)
        return bad

    async def store_verdicts(self, decided: Sequence[results_pb2.Verdict]) -> None:
        """Store verdicts once each (a verdict for a frame no longer in flight counts as a duplicate),
        count them, keep previews of alerts, release payloads and call the result hooks. One ledger call
        per ``FINALIZE_BATCH`` verdicts, each handled in full before the next: if a later call fails
        before Redis runs it, the verdicts stored before it have had their hooks."""
        started = time.monotonic()
        for start in range(0, len(decided), FINALIZE_BATCH):
            await self._store_once(decided[start : start + FINALIZE_BATCH])
        self.sensor.sink_batch(time.monotonic() - started)

    async def _store_once(self, decided: Sequence[results_pb2.Verdict]) -> None:
        items = [(verdict, verdicts.alert_for(verdict)) for verdict in decided]
        records = await self.ledger.finalize_many(items)
        stored = [
            (verdict, alert, record)
            for (verdict, alert), record in zip(items, records, strict=True)
            if record is not None
        ]
        for _ in range(len(items) - len(stored)):
            self.sensor.duplicate_verdict()
        # every stored verdict of a ledger call is counted before any preview is rendered: a metric never
        # trails the ledger by the time another frame's preview takes
        for verdict, alert, record in stored:
            self._report(verdict, alert)
            if verdict.modality == frame_pb2.MODALITY_RECORD:
                self._report_records(verdict, record)
        self._release_unreleased()
        for verdict, alert, record in stored:
            if alert is not None:
                await self._keep_preview(record, verdict)
            if self.screening is not None and record.modality == frame_pb2.MODALITY_XRAY:
                self._screen(record)
            if record.HasField("blob"):
                self._release(record.blob)

    def _release(self, blob: frame_pb2.BlobRef) -> None:
        """Release a payload whose verdict is stored. Never raises: the ledger holds the verdict, and a
        retry of its call would count it a duplicate and skip the rest of the call's payloads. A release
        the store did not answer is kept and tried again after the next ledger call
        (``_release_unreleased``); the list is in memory, so a worker that stops meanwhile leaves those
        payloads in the store (logged here, one line each)."""
        released = self._released(blob)
        if released is not True:
            if released is False:
                self._unreleased.append(blob)
            self.sensor.blob_release_failed(len(self._unreleased))

    def _release_unreleased(self) -> None:
        """Try again, oldest first, the releases the store did not answer; stop at the first it does not
        answer again (still down: one failed call per ledger call)."""
        while self._unreleased:
            if self._released(self._unreleased[0]) is False:
                self.sensor.blob_release_failed(len(self._unreleased))
                return
            self._unreleased.popleft()
            self.sensor.blobs_awaiting_release(len(self._unreleased))

    def _released(self, blob: frame_pb2.BlobRef) -> bool | None:
        """True once released (or already gone); False when the store did not answer (its connection
        dropped or timed out: worth trying again); None for any other failure, which trying again would
        not mend (another store's reference, a malformed key, a refused script or file): logged, not
        kept."""
        try:
            self.store.release(blob)
        except (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError) as error:
            log.warning("payload %s not released, kept to try again: %s", blob.key, error)
            return False
        except Exception:
            log.exception("payload %s cannot be released by this store: left where it is", blob.key)
            return None
        self.sensor.blob_released()
        return True

    async def store_batch_waiting(self, messages: Sequence[bytes], max_delay_s: float = 2.0) -> list[bytes]:
        """``store_batch``, waiting out a Redis outage as ``store_verdicts_waiting`` does."""
        parsed, bad = _unstored(messages)
        if parsed:
            await self.store_verdicts_waiting(parsed, max_delay_s)
        return bad

    async def store_verdicts_waiting(
        self, decided: Sequence[results_pb2.Verdict], max_delay_s: float = 2.0
    ) -> None:
        """``store_verdicts``, each ledger call retried with backoff (0.1 s doubling to ``max_delay_s``)
        while Redis does not answer: the verdict stage waits out a Redis outage with the verdicts in hand
        instead of crashing. The retry starts at the call that failed, so the verdicts of the calls
        before it are not sent again (they would come back as duplicates). Finalizing is idempotent: the
        verdicts of a call Redis ran but whose reply was lost come back as duplicates, their hooks not
        run again. A payload that cannot be released once its verdict is stored does not fail the call:
        it is kept and released after a later one (``_release``). The sink's duration counts the
        calls that succeeded, not the waits between attempts."""
        stored_s = 0.0

        async def timed(chunk: Sequence[results_pb2.Verdict]) -> None:
            nonlocal stored_s
            started = time.monotonic()
            await self._store_once(chunk)
            stored_s += time.monotonic() - started

        for start in range(0, len(decided), FINALIZE_BATCH):
            await self._waiting(partial(timed, decided[start : start + FINALIZE_BATCH]), max_delay_s)
        self.sensor.sink_batch(stored_s)

    async def _waiting(self, store: Callable[[], Awaitable[_T]], max_delay_s: float) -> _T:
        return await outage.waiting_out(
            store,
            lambda error: isinstance(error, RedisError | OSError),
            log,
            "verdicts wait for Redis: %s",
            "Redis answers again: verdicts stored after %.1f s",
            max_delay_s,
        )

    async def _keep_preview(self, record: frame_pb2.Frame, verdict: results_pb2.Verdict) -> None:
        """Officers review alerts after the payload is gone: keep a small preview of the frame."""
        try:
            payload = self.store.read(record.blob) if record.HasField("blob") else memoryview(record.payload)
            # rendering a large frame takes tens of ms: off the event loop the stream agents share
            shown = await asyncio.to_thread(preview.render, record, payload, verdict)
            if shown is not None:
                await self.ledger.store_preview(record.frame_id, shown)
        except Exception:  # a preview is a convenience: never let it cost the verdict
            self.sensor.hook_failed("preview")
            log.exception("no preview for frame %s", record.frame_id)

    def _screen(self, record: frame_pb2.Frame) -> None:
        """Hand a screened lane's X-ray frame to the screening feed, which renders it in the background
        from a copy of its payload; never at the cost of the verdict."""
        assert self.screening is not None
        if not self.screening.screens(record):
            return
        if not self.screening.has_room():  # before the payload is read (from Redis, for a Redis store)
            self.screening.skipped()
            return
        try:
            payload = self.store.read(record.blob) if record.HasField("blob") else memoryview(record.payload)
            self.screening.submit(record, payload)
        except Exception:
            self.sensor.screening_bag("failed")
            log.exception("frame %s not put before screeners", record.frame_id)

    def _report(self, verdict: results_pb2.Verdict, alert: results_pb2.Alert | None) -> None:
        modality = _label(verdict.modality)
        decision = Decision.from_proto(verdict.decision)
        latency = (
            time.time() - verdict.accepted_time.ToNanoseconds() / 1e9
            if verdict.HasField("accepted_time")
            else None
        )
        self.sensor.verdict_stored(modality, decision, latency)
        for result in verdict.results:
            for detection in result.detections:
                self.sensor.detected(modality, result.plugin, detection.label)
        if decision is Decision.MANUAL_INSPECTION:
            self.sensor.fallback(modality, verdicts.fallback_kind(verdict))
        self._score_shadow(verdict)
        self._call_hook("smartcustoms_verdict", verdict=verdict)
        if alert is not None:
            self.sensor.alert_raised(modality, decision)
            self._call_hook("smartcustoms_alert", alert=alert)

    def _report_records(self, verdict: results_pb2.Verdict, record: frame_pb2.Frame) -> None:
        """What each risk plugin (live or shadow) made of the records: scored, top score, selected."""
        kind, count = selections.record_kind(record), selections.record_count(record)
        if kind == selections.OUTCOME_KIND:
            return  # officers' inspection results, which a plugin learns from: nothing was scored
        for result in (*verdict.results, *verdict.shadow_results):
            if not result.error:  # a failed plugin scored nothing; it is counted in its errors
                self.sensor.records_assessed(
                    result.plugin, kind, count, result.risk_score, selections.selections(result)
                )

    def _score_shadow(self, verdict: results_pb2.Verdict) -> None:
        for result in verdict.shadow_results:
            if not result.error:  # a failed shadow plugin is counted in its errors, not scored
                compare_with = self.shadow_compare.get(result.plugin, frozenset())
                self.sensor.shadow_compared(
                    result.plugin, *verdicts.shadow_agreement(verdict, result, compare_with)
                )

    def _call_hook(self, name: str, **kwargs: object) -> None:
        try:
            getattr(self.pm.hook, name)(**kwargs)
        except Exception:
            self.sensor.hook_failed(name)
            log.exception("a plugin's %s hook raised", name)


def _label(modality: int) -> str:
    try:
        return Modality.from_proto(modality).value
    except ValueError:
        return "unknown"
