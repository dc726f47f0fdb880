"""Publishing to the streams: frame records to their modality topic, verdicts to the verdicts topic.

A publish that fails on the broker's side is retried once on a fresh producer, after making sure the
topics exist: a broker that restarted empty (the embedded one keeps messages in memory) recreates its
topics, and a producer that wrote to a topic before it was recreated keeps failing on it (measured
with tansu 0.6), while a new one does not. Frames whose publish still fails stay in the ledger, and the
reconciler publishes them again. While the broker is known to be down (a publish or probe failed in the
last few seconds), the gateway does not wait on it: a frame in the ledger is acknowledged at once and
left to the reconciler, which holds off until the broker answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from smartcustoms.core.config import Config
from smartcustoms.core.types import Modality
from smartcustoms.runtime.topics import all_topics, ensure_topics, frames_topic, verdicts_topic
from smartcustoms.v1 import frame_pb2, results_pb2

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
DOWN_HOLD_S = 5.0  # a failed publish or probe marks the broker down this long (or until it answers)


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

    def known_down(self) -> bool:
        """Whether a publish or probe failed in the last ``DOWN_HOLD_S`` with no success since: the
        gateway then acks durable frames without waiting on the broker, and the reconciler holds off."""
        return time.monotonic() < self._down_until

    def _answered(self, ok: bool) -> None:
        self._down_until = 0.0 if ok else time.monotonic() + DOWN_HOLD_S

    async def start(self) -> None:
        await ensure_topics(
            self.config.broker.bootstrap_servers, all_topics(self.namespace), self.config.broker.partitions
        )
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

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
        topic = frames_topic(self.namespace, Modality.from_proto(frame.modality))
        await self._send(topic, frame.SerializeToString(), frame.source_id.encode())

    async def publish_verdicts(self, batch: results_pb2.VerdictBatch, key: str) -> None:
        await self._send(verdicts_topic(self.namespace), batch.SerializeToString(), key.encode())

    async def _send(self, topic: str, value: bytes, key: bytes) -> None:
        try:
            await self._send_once_more_on_error(topic, value, key)
        except (KafkaError, OSError, TimeoutError):
            self._answered(False)
            raise
        self._answered(True)

    async def _send_once_more_on_error(self, topic: str, value: bytes, key: bytes) -> None:
        producer = self.producer
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=key), PUBLISH_TIMEOUT_S)
        except KafkaError as error:
            log.warning("publish to %s failed (%r): new producer, one more try", topic, error)
            await self._replace(producer)
            await asyncio.wait_for(self.producer.send_and_wait(topic, value, key=key), PUBLISH_TIMEOUT_S)

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
