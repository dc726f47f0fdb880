"""The vendor client against the real gateway: a gateway killed or restarted mid-stream, and acks lost on
the wire, cost neither a frame nor a duplicate. The Redis ledger is the judge: accepted == distinct frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, RetryPolicy, VendorClient
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import restart_gateway
from smartcustoms.v1 import frame_pb2, ingest_pb2

pytestmark = pytest.mark.integration

RETRY = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=0.5)
ACKED_BEFORE_RESTART = 40
SENT_AFTER_RESTART = 40
MAX_FRAMES = 50_000  # bound on the producer, should a graceful stop keep the old stream going long


def _frame(sequence: int) -> frame_pb2.Frame:
    return array_frame(
        np.full((1, 8, 8), sequence % 65_536, np.uint16),
        modality=Modality.XRAY,
        source_id="lane-restart",
        sequence=sequence,
        frame_id=f"r-{sequence}",
    )


async def _counts(config: Config) -> Counts:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        return await ledger_for(config, client).counts()
    finally:
        await client.aclose()


@pytest.mark.parametrize("kill", [True, False], ids=["sigkill", "sigterm"])
def test_a_gateway_restart_mid_stream_loses_and_duplicates_nothing(
    runtime_config: Config, start_stack: Callable[..., Stack], kill: bool
) -> None:
    runtime_config.gateway.stop_grace_s = 1.0
    runtime_config.gateway.max_backlog_frames = 0  # no worker decides these: no push-back on the backlog
    runtime_config.gateway.max_backlog_frames_per_source = 0  # (one source sends them all)
    runtime_config.gateway.max_backlog_bytes = runtime_config.gateway.max_backlog_bytes_per_source = 0
    stack = start_stack(runtime_config, worker=False)

    async def scenario() -> tuple[list[ingest_pb2.IngestAck], VendorClient]:
        futures: list[asyncio.Future[ingest_pb2.IngestAck]] = []
        answered = Counter[str]()
        acked = asyncio.Event()
        restarted = asyncio.Event()

        def count_ack(_: object) -> None:
            answered["acks"] += 1
            if answered["acks"] >= ACKED_BEFORE_RESTART:
                acked.set()

        async def produce(client: VendorClient) -> None:
            sequence = 0
            after = 0
            while after < SENT_AFTER_RESTART and sequence < MAX_FRAMES:
                sequence += 1
                future = await client.send(_frame(sequence))
                future.add_done_callback(count_ack)
                futures.append(future)
                after += restarted.is_set()

        async with VendorClient(stack.gateway_target, window_frames=16, retry=RETRY) as client:
            producer = asyncio.create_task(produce(client))
            await acked.wait()
            await asyncio.to_thread(restart_gateway, stack, kill=kill)
            restarted.set()
            await producer
        return [future.result() for future in futures], client

    acks, client = asyncio.run(scenario())
    assert [ack.code for ack in acks] == [OK] * len(acks), "every frame acknowledged OK"
    assert [ack.frame_id for ack in acks] == [f"r-{i}" for i in range(1, len(acks) + 1)]
    assert client.stats.frames_acked == len(acks) and client.stats.reconnects >= 1
    counts = asyncio.run(_counts(runtime_config))
    assert counts == Counts(accepted=len(acks), verdicts=0, fallbacks=0, in_flight=len(acks))


class AckDroppingProxy:
    """A TCP proxy in front of the gateway that can drop everything the gateway sends (the acks) and
    then reset its connections, as a network failure after the gateway accepted frames would."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.dropping = False
        self.connections: list[asyncio.StreamWriter] = []
        self.pipes: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        try:
            yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()
            self.reset()
            await asyncio.gather(*self.pipes, return_exceptions=True)
            await server.wait_closed()

    def reset(self) -> None:
        """Abort every connection (the client sees a reset); new ones are forwarded faithfully."""
        self.dropping = False
        for writer in self.connections:
            writer.transport.abort()
        self.connections.clear()

    async def _connect(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        gateway_reader, gateway_writer = await asyncio.open_connection(*self.upstream)
        self.connections += [client_writer, gateway_writer]
        for pipe in (
            self._pipe(client_reader, gateway_writer, from_gateway=False),
            self._pipe(gateway_reader, client_writer, from_gateway=True),
        ):
            task = asyncio.create_task(pipe)
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_gateway: bool
    ) -> None:
        try:
            while data := await reader.read(65_536):
                if from_gateway and self.dropping:
                    continue
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


def test_acks_lost_on_the_wire_are_resent_and_acked_as_duplicates(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    stack = start_stack(runtime_config, worker=False)
    proxy = AckDroppingProxy(stack.gateway_target)

    async def scenario() -> tuple[list[ingest_pb2.IngestAck], VendorClient, Counts]:
        async with proxy.serving() as target, VendorClient(target, window_frames=16, retry=RETRY) as client:
            first = [await client.send(_frame(i)) for i in range(1, 6)]
            acks = [await future for future in first]
            proxy.dropping = True
            lost = [await client.send(_frame(i)) for i in range(6, 11)]
            async with asyncio.timeout(60):
                while (counts := await _counts(runtime_config)).accepted < 10:
                    await asyncio.sleep(0.02)
            assert not any(future.done() for future in lost), "their acks were dropped"
            proxy.reset()
            acks += [await future for future in lost]
        return acks, client, counts

    acks, client, counts_before_reset = asyncio.run(scenario())
    assert [ack.code for ack in acks] == [OK] * 10
    assert [ack.duplicate for ack in acks] == [False] * 5 + [True] * 5
    assert client.stats.resends == 5 and client.stats.duplicates == 5
    assert counts_before_reset.accepted == 10
    assert asyncio.run(_counts(runtime_config)) == Counts(accepted=10, verdicts=0, fallbacks=0, in_flight=10)
