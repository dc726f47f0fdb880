"""Publishing to the streams: frame records to their modality topic, verdicts to the verdicts topic.

A publish that fails on the broker's side is retried once on a fresh producer, after making sure the
topics exist: a broker that restarted empty (the embedded one keeps messages in memory) recreates its
topics, and a producer that wrote to a topic before it was recreated keeps failing on it (measured
with tansu 0.6), while a new one does not. Frames whose publish still fails stay in the ledger, and the
reconciler publishes them again. While the broker is known to be down (a publish or probe failed in the
last few seconds), the gateway does not wait on it: a frame in the ledger is acknowledged at once and
left to the reconciler, which holds off until the broker answers again. While a publish waits, the
publisher probes the broker every ``PROBE_EVERY_S``: a broker found gone ends every waiting publish at
once (``BrokerDown``) instead of after ``PUBLISH_TIMEOUT_S``, so the first frames of an outage are
acknowledged from the ledger within about a second too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from smartcustoms.core.config import Config
from smartcustoms.core.types import Modality
from smartcustoms.runtime.topics import all_topics, ensure_topics, frames_topic, verdicts_topic
from smartcustoms.v1 import frame_pb2, results_pb2

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
DOWN_HOLD_S = 5.0  # a failed publish or probe marks the broker down this long (or until it answers)
PROBE_EVERY_S = 1.0  # while a publish waits: how often the broker is asked whether it is there


@dataclass(frozen=True)
class Turn:
    """A publish's place in its publisher's order: ``previous`` is set once the frames before it were
    handed to the producer (or given up), ``mine`` once its own were."""

    previous: asyncio.Event
    mine: asyncio.Event = field(default_factory=asyncio.Event)

    def next(self) -> Turn:
        return Turn(self.mine)

    @classmethod
    def first(cls) -> Turn:
        """The turn before the first publish: already over."""
        over = asyncio.Event()
        over.set()
        return cls(over, over)


Message = tuple[str, bytes, bytes]  # topic, value, key
_BROKER_ERRORS = (KafkaError, OSError, TimeoutError)


class BrokerDown(ConnectionError):
    """A publish was still waiting when the broker was found gone."""


def producer_for(config: Config) -> AIOKafkaProducer:
    """A producer whose request limit fits an inline frame with its header."""
    max_request = max(config.broker.max_message_bytes, config.gateway.inline_max_bytes + 256 * 1024)
    return AIOKafkaProducer(
        bootstrap_servers=config.broker.bootstrap_servers,
        acks=1,
        linger_ms=1,
        max_request_size=max_request,
        client_id=f"{config.namespace}-gateway",
    )


class Publisher:
    """One producer shared by the ingest streams and the reconciler, replaced when it goes bad."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.namespace = config.namespace
        self.producer = producer_for(config)
        self._reset_lock = asyncio.Lock()
        self._down_until = 0.0
        self._went_down = asyncio.Event()  # set when a probe or publish fails, cleared when one succeeds
        self._waiting = 0  # publishes waiting on the broker
        self._watch: asyncio.Task[None] | None = None

    def known_down(self) -> bool:
        """Whether a publish or probe failed in the last ``DOWN_HOLD_S`` with no success since: the
        gateway then acks durable frames without waiting on the broker, and the reconciler holds off."""
        return time.monotonic() < self._down_until

    def _answered(self, ok: bool) -> None:
        self._down_until = 0.0 if ok else time.monotonic() + DOWN_HOLD_S
        if ok:
            self._went_down.clear()
        else:
            self._went_down.set()

    async def start(self) -> None:
        await ensure_topics(
            self.config.broker.bootstrap_servers, all_topics(self.namespace), self.config.broker.partitions
        )
        await self.producer.start()
        self._watch = asyncio.create_task(self._watch_while_waiting(), name="broker-watch")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.producer.stop()

    async def _watch_while_waiting(self) -> None:
        """Probe the broker while publishes wait on it: one found gone ends their wait."""
        while True:
            await asyncio.sleep(PROBE_EVERY_S)
            if self._waiting and not self._went_down.is_set():
                await self.reachable(timeout_s=PROBE_EVERY_S)

    async def reachable(self, timeout_s: float = 2.0) -> bool:
        """Whether the broker answers a metadata request now (the gateway's health asks)."""
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout_s)
        except (KafkaError, OSError, TimeoutError):
            self._answered(False)
            return False
        self._answered(True)
        return True

    async def publish(self, frame: frame_pb2.Frame) -> None:
        """Publish a frame to its modality's topic, keyed by its source (``publish_many`` of one)."""
        [error] = await self.publish_many([frame])
        if error is not None:
            raise error

    async def publish_many(
        self, frames: Sequence[frame_pb2.Frame], turn: Turn | None = None
    ) -> list[Exception | None]:
        """Publish frames to their modality's topic, keyed by their source, in the order given; return
        each one's failure (None: the broker acknowledged it). With a ``turn``, the frames are handed to
        the producer only after the batch before them was: a source's frames reach their partition in
        the order they were sent, while the batches' waits for the broker overlap. Raises
        ``BrokerDown`` when the broker was found gone while they waited."""
        messages = [
            (
                frames_topic(self.namespace, Modality.from_proto(frame.modality)),
                frame.SerializeToString(),
                frame.source_id.encode(),
            )
            for frame in frames
        ]
        return await self._send(messages, turn)

    async def publish_verdicts(self, batch: results_pb2.VerdictBatch, key: str) -> None:
        message = (verdicts_topic(self.namespace), batch.SerializeToString(), key.encode())
        [error] = await self._send([message])
        if error is not None:
            raise error

    async def _send(self, messages: list[Message], turn: Turn | None = None) -> list[Exception | None]:
        if not self.known_down():
            self._went_down.clear()  # the hold is over: this publish tries the broker again
        self._waiting += 1
        send = asyncio.ensure_future(self._send_once_more_on_error(messages, turn))
        gone = asyncio.ensure_future(self._went_down.wait())
        try:
            await asyncio.wait({send, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting -= 1
            gone.cancel()
        if not send.done():  # the broker was found gone while this waited: the frames stay in the ledger
            send.cancel()
            raise BrokerDown(f"the broker at {self.config.broker.bootstrap_servers} does not answer")
        try:
            errors = send.result()
        except (KafkaError, OSError, TimeoutError):
            self._answered(False)
            raise
        self._answered(not any(isinstance(error, _BROKER_ERRORS) for error in errors))
        return errors

    async def _send_once_more_on_error(
        self, messages: list[Message], turn: Turn | None = None
    ) -> list[Exception | None]:
        """Each message's failure after one more try on a fresh producer for those the broker refused."""

        async def attempt(producer: AIOKafkaProducer, indexes: list[int]) -> None:
            if turn is not None:
                await turn.previous.wait()
            sent: list[tuple[int, asyncio.Future[object]]] = []
            try:
                for i in indexes:  # in the producer's batches, in order
                    topic, value, key = messages[i]
                    sent.append((i, await producer.send(topic, value, key=key)))
            except KafkaError as error:  # not handed over: this one and those after it, tried again
                for i in indexes[len(sent) :]:  # before the next batch's turn, to keep their order
                    errors[i] = error
            else:
                if turn is not None:
                    turn.mine.set()
            outcomes = await asyncio.gather(*(delivery for _, delivery in sent), return_exceptions=True)
            for (i, _), outcome in zip(sent, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, Exception):
                        raise outcome
                    errors[i] = outcome

        errors: list[Exception | None] = [None] * len(messages)
        producer = self.producer
        try:
            await asyncio.wait_for(attempt(producer, list(range(len(messages)))), PUBLISH_TIMEOUT_S)
            again = [i for i, error in enumerate(errors) if isinstance(error, KafkaError)]
            if again:
                log.warning(
                    "publish of %d of %d to %s failed (%r): new producer, one more try",
                    len(again),
                    len(messages),
                    messages[again[0]][0],
                    errors[again[0]],
                )
                await self._replace(producer)
                for i in again:
                    errors[i] = None
                await asyncio.wait_for(attempt(self.producer, again), PUBLISH_TIMEOUT_S)
        finally:
            if turn is not None:
                turn.mine.set()  # handed over, or given up: the next batch's turn either way
        return errors

    async def _replace(self, failed: AIOKafkaProducer) -> None:
        async with self._reset_lock:
            if self.producer is not failed:
                return  # another publish already replaced it
            await ensure_topics(
                self.config.broker.bootstrap_servers,
                all_topics(self.namespace),
                self.config.broker.partitions,
            )
            fresh = producer_for(self.config)
            await fresh.start()
            self.producer = fresh
        try:
            await failed.stop()
        except KafkaError:
            log.debug("the failed producer did not stop cleanly")
