"""The bare floor of one Kafka hop on the session's broker: produce (broker ack) -> a consumer's fetch.

One aiokafka producer (``acks=1``, ``linger_ms=1``, as the gateway's publisher) sends small messages open
loop at a fixed rate to a fresh one-partition topic; one aiokafka consumer, already assigned and polling
with ``fetch_max_wait_ms``, stamps each on arrival. Per message: send -> broker ack, and send -> consumed
(one host clock). No Faust, no framework code: what any design with a Kafka hop on this broker pays.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from smartcustoms.runtime.topics import ensure_topics


@dataclass(frozen=True)
class HopTimes:
    acked_s: np.ndarray  # send -> broker ack, per message
    consumed_s: np.ndarray  # send -> the consumer has it, per message


async def bare_hop(
    bootstrap: str, rate: float, messages: int, fetch_max_wait_ms: int, size: int = 4096
) -> HopTimes:
    topic = f"bench-hop-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic], 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=1)
    await producer.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, fetch_max_wait_ms=fetch_max_wait_ms, enable_auto_commit=False
    )
    try:
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_end()
        sent: dict[int, float] = {}
        acked: dict[int, float] = {}
        consumed: dict[int, float] = {}
        payload = bytes(size - 8)

        async def consume() -> None:
            while len(consumed) < messages:
                found = await consumer.getmany(timeout_ms=1000)
                now = time.time()
                for records in found.values():
                    for record in records:
                        consumed.setdefault(int.from_bytes(record.value[:8], "big"), now)

        async def produce() -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            pending = []
            for index in range(messages):
                await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
                sent[index] = time.time()
                future = await producer.send(topic, index.to_bytes(8, "big") + payload)
                future.add_done_callback(lambda _, i=index: acked.setdefault(i, time.time()))
                pending.append(future)
            await asyncio.gather(*pending)

        reading = asyncio.ensure_future(consume())
        await asyncio.sleep(0.5)  # the consumer's first fetch is in flight
        await produce()
        await asyncio.wait_for(reading, 30)
    finally:
        await consumer.stop()
        await producer.stop()
    order = sorted(sent)
    return HopTimes(
        np.array([acked[i] - sent[i] for i in order]), np.array([consumed[i] - sent[i] for i in order])
    )
