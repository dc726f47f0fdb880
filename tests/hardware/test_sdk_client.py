"""The vendor client against an in-process fake gateway: resends after lost acks, retries, backpressure,
deadlines. The fake keeps the gateway's idempotency on (source_id, sequence) and fails on demand; the
real gateway is exercised in tests/integration/test_vendor_reconnect.py."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import grpc
import numpy as np
import pytest

from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, IngestError, IngestStream, SyncVendorClient, VendorClient
from smartcustoms.hardware.sdk.retry import RetryPolicy, retryable_stream_code
from smartcustoms.runtime.process import free_port
from smartcustoms.v1 import frame_pb2, ingest_pb2

FAST = RetryPolicy(initial_backoff_s=0.005, max_backoff_s=0.05)
Key = tuple[str, int]


class FakeGateway:
    """An IngestService that dedupes on (source_id, sequence) like the gateway, and misbehaves on demand."""

    def __init__(self) -> None:
        self.accepted: dict[Key, str] = {}
        self.accepts: Counter[Key] = Counter()
        self.deliveries: Counter[str] = Counter()  # complete frames received, per frame id
        self.streams = 0
        self.ack_first: int | None = None  # first stream only: ack this many, then accept ...
        self.then_lose = 0  # ... this many more without acking them, then fail with UNAVAILABLE
        self.unavailable_once: set[str] = set()
        self.codes: dict[str, grpc.StatusCode] = {}
        self.push_back_once: dict[str, int] = {}  # frame id -> retry_after_ms of its first answer
        self.pushed_back_at: list[float] = []  # loop time of each push-back answer
        self.arrivals: dict[str, list[float]] = {}  # loop time each frame's last chunk came in
        self.abort_with: grpc.StatusCode | None = None
        self.release = asyncio.Event()  # cleared: every ack waits
        self.release.set()

    async def StreamFrames(
        self, requests: AsyncIterator[ingest_pb2.FrameChunk], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_pb2.IngestAck]:
        self.streams += 1
        first_stream = self.streams == 1
        headers: dict[str, frame_pb2.Frame] = {}
        frames = 0
        async for chunk in requests:
            if self.abort_with is not None:  # after a read: a write racing the abort reports INTERNAL
                await context.abort(self.abort_with, "refused by the fake")
            if chunk.index == 0:
                headers[chunk.frame_id] = chunk.header
            if not chunk.last:
                continue
            frames += 1
            self.arrivals.setdefault(chunk.frame_id, []).append(asyncio.get_running_loop().time())
            ack = self._answer(chunk.frame_id, headers.pop(chunk.frame_id))
            if first_stream and self.ack_first is not None and frames > self.ack_first:
                if frames == self.ack_first + self.then_lose:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "gateway restarting")
                continue  # accepted, but its ack is lost
            await self.release.wait()
            yield ack

    def _answer(self, frame_id: str, header: frame_pb2.Frame) -> ingest_pb2.IngestAck:
        self.deliveries[frame_id] += 1
        key = (header.source_id, header.sequence)
        ack = ingest_pb2.IngestAck(frame_id=frame_id, source_id=key[0], sequence=key[1])
        if frame_id in self.push_back_once:
            ack.code = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
            ack.retry_after_ms = self.push_back_once.pop(frame_id)
            self.pushed_back_at.append(asyncio.get_running_loop().time())
        elif frame_id in self.unavailable_once:
            self.unavailable_once.discard(frame_id)
            ack.code = grpc.StatusCode.UNAVAILABLE.value[0]
        elif frame_id in self.codes:
            ack.code = self.codes[frame_id].value[0]
        elif key in self.accepted:
            ack.duplicate = True
        else:
            self.accepted[key] = frame_id
            self.accepts[key] += 1
        return ack


@contextlib.asynccontextmanager
async def serving(fake: FakeGateway, port: int = 0) -> AsyncIterator[str]:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "smartcustoms.v1.IngestService",
        {
            "StreamFrames": grpc.stream_stream_rpc_method_handler(
                fake.StreamFrames,
                request_deserializer=ingest_pb2.FrameChunk.FromString,
                response_serializer=ingest_pb2.IngestAck.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def _frame(sequence: int, frame_id: str = "", source_id: str = "lane-1", size: int = 4) -> frame_pb2.Frame:
    return array_frame(
        np.arange(size, dtype=np.uint16).reshape(1, 1, size),
        modality=Modality.XRAY,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id or f"f{sequence}",
    )


async def _until(condition: object, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def test_acks_lost_with_a_stream_are_resent_and_each_frame_is_accepted_once() -> None:
    fake = FakeGateway()
    fake.ack_first, fake.then_lose = 2, 3

    async def scenario() -> tuple[list[ingest_pb2.IngestAck], VendorClient]:
        async with serving(fake) as target, VendorClient(target, window_frames=8, retry=FAST) as client:
            futures = [await client.send(_frame(i)) for i in range(1, 9)]
            return [await future for future in futures], client

    acks, client = asyncio.run(scenario())
    assert [ack.frame_id for ack in acks] == [f"f{i}" for i in range(1, 9)]
    assert [ack.code for ack in acks] == [OK] * 8
    assert [ack.duplicate for ack in acks] == [False, False, True, True, True, False, False, False]
    assert set(fake.accepts.values()) == {1} and len(fake.accepts) == 8, "each frame accepted exactly once"
    assert [fake.deliveries[f"f{i}"] for i in (3, 4, 5)] == [2, 2, 2]
    assert client.stats.reconnects == 1 and client.stats.duplicates == 3
    assert client.stats.frames_acked == 8 and client.unacked_frames == 0


def test_a_client_given_two_gateways_fails_over_to_the_second_and_loses_nothing() -> None:
    first, second = FakeGateway(), FakeGateway()
    first.ack_first, first.then_lose = 2, 3  # three frames taken, their acks lost, then the gateway fails
    # the gateways share one ledger: the second knows what the first accepted (the real ones: Redis)
    second.accepted = first.accepted

    async def scenario() -> tuple[list[ingest_pb2.IngestAck], VendorClient]:
        async with (
            serving(first) as a,
            serving(second) as b,
            VendorClient([a, b], window_frames=8, retry=FAST) as client,
        ):
            futures = [await client.send(_frame(i)) for i in range(1, 9)]
            acks = [await future for future in futures]
            assert client.target == b
            return acks, client

    acks, client = asyncio.run(scenario())
    assert [ack.code for ack in acks] == [OK] * 8
    assert [ack.duplicate for ack in acks] == [False, False, True, True, True, False, False, False]
    assert second.streams == 1 and sum(second.deliveries.values()) == 6  # 3 resent, 3 never sent to the first
    assert (
        set(first.accepts.values()) == {1} and sum(first.accepts.values()) + sum(second.accepts.values()) == 8
    )
    assert client.stats.reconnects == 1
    with pytest.raises(ValueError, match="address"):
        VendorClient([])


def test_unavailable_acks_are_retried_and_other_codes_are_final() -> None:
    fake = FakeGateway()
    fake.unavailable_once = {"flaky"}
    fake.codes = {"bad": grpc.StatusCode.INVALID_ARGUMENT}

    async def scenario() -> dict[str, ingest_pb2.IngestAck]:
        async with serving(fake) as target, VendorClient(target, retry=FAST) as client:
            futures = {name: await client.send(_frame(i, name)) for i, name in enumerate(["flaky", "bad"], 1)}
            acks = {name: await future for name, future in futures.items()}
            assert client.stats.frames_rejected == 1
            return acks

    acks = asyncio.run(scenario())
    assert (acks["flaky"].code, acks["bad"].code) == (OK, grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert fake.deliveries == Counter({"flaky": 2, "bad": 1})


def test_a_push_back_holds_the_whole_stream_for_its_delay_then_the_frame_is_sent_again() -> None:
    fake = FakeGateway()
    fake.push_back_once = {"first": 300}

    async def scenario() -> tuple[dict[str, ingest_pb2.IngestAck], int]:
        async with serving(fake) as target, VendorClient(target, retry=FAST) as client:
            first = await client.send(_frame(1, "first"))
            await _until(lambda: client.stats.push_backs == 1)
            names = enumerate(["second", "third"], 2)
            later = {name: await client.send(_frame(i, name)) for i, name in names}
            acks = {"first": await first} | {name: await future for name, future in later.items()}
            return acks, client.stats.push_backs

    acks, push_backs = asyncio.run(scenario())
    assert {name: ack.code for name, ack in acks.items()} == {"first": OK, "second": OK, "third": OK}
    assert push_backs == 1 and fake.deliveries == Counter({"first": 2, "second": 1, "third": 1})
    [pushed_back_at] = fake.pushed_back_at
    held_until = pushed_back_at + 0.3
    # nothing crossed the network during the delay: not the refused frame, not the frames sent after it
    assert all(at >= held_until - 0.01 for name in acks for at in fake.arrivals[name][-1:])
    assert fake.arrivals["first"][0] < pushed_back_at


def test_an_unavailable_ack_is_final_once_attempts_are_exhausted() -> None:
    fake = FakeGateway()
    fake.unavailable_once = {"flaky"}

    async def scenario() -> ingest_pb2.IngestAck:
        async with serving(fake) as target, VendorClient(target, retry=RetryPolicy(max_attempts=1)) as client:
            return await (await client.send(_frame(1, "flaky")))

    assert asyncio.run(scenario()).code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert fake.deliveries["flaky"] == 1


def test_frames_sent_while_the_gateway_is_down_arrive_once_it_is_up() -> None:
    fake = FakeGateway()
    port = free_port()

    async def scenario() -> tuple[list[ingest_pb2.IngestAck], VendorClient]:
        async with VendorClient(f"127.0.0.1:{port}", retry=FAST) as client:
            futures = [await client.send(_frame(i)) for i in range(1, 4)]
            await _until(lambda: client.stats.reconnects >= 2)
            async with serving(fake, port):
                acks = [await future for future in futures]
                await client.close()
        return acks, client

    acks, client = asyncio.run(scenario())
    assert [ack.code for ack in acks] == [OK] * 3
    assert len(fake.accepts) == 3 and client.stats.reconnects >= 2


def test_a_full_window_blocks_the_producer_until_acks_make_room() -> None:
    fake = FakeGateway()

    async def scenario(client_options: dict[str, int], sizes: list[int]) -> None:
        fake.release.clear()
        async with serving(fake) as target, VendorClient(target, retry=FAST, **client_options) as client:
            first = [await client.send(_frame(i, size=size)) for i, size in enumerate(sizes[:-1], 1)]
            blocked = asyncio.create_task(client.send(_frame(len(sizes), size=sizes[-1])))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not blocked.done(), "the window is full and nothing was acknowledged"
            assert client.unacked_frames == len(sizes) - 1
            fake.release.set()
            last = await blocked
            assert [(await f).code for f in [*first, last]] == [OK] * len(sizes)

    asyncio.run(scenario({"window_frames": 2}, [4, 4, 4]))
    fake = FakeGateway()
    asyncio.run(scenario({"window_bytes": 1000}, [300, 300]))


def test_a_stream_that_ends_while_its_window_is_full_fails_the_send_waiting_for_room() -> None:
    """``IngestStream``: when the gateway goes away with the window full, the frames awaiting acks fail,
    and so does a send waiting for room and any send after it, instead of waiting for acks forever."""
    fake = FakeGateway()
    fake.release.clear()  # no ack comes: the window stays full

    async def scenario() -> None:
        gateway = serving(fake)
        target = await gateway.__aenter__()
        stream = IngestStream(target, window_frames=2)
        await stream.__aenter__()
        try:
            awaiting = [await stream.send(_frame(sequence)) for sequence in (1, 2)]
            waiting_for_room = asyncio.create_task(stream.send(_frame(3)))
            await _until(lambda: fake.deliveries["f1"] == 1)  # the fake holds its ack, reads no further
            for _ in range(20):
                await asyncio.sleep(0)
            assert not waiting_for_room.done()
            await gateway.__aexit__(None, None, None)  # the gateway goes away
            async with asyncio.timeout(10):
                with pytest.raises(IngestError):
                    await waiting_for_room
                for future in awaiting:
                    with pytest.raises(IngestError):
                        await future
            with pytest.raises(IngestError):
                await stream.send(_frame(4))
        finally:
            with contextlib.suppress(grpc.aio.AioRpcError):
                async with asyncio.timeout(10):
                    await stream.close()

    asyncio.run(scenario())


def test_an_ingest_stream_closed_at_a_deadline_fails_its_frames_and_can_be_entered_again() -> None:
    """``IngestStream``: a close given up at a deadline fails the frames still awaiting acks (nothing
    is left waiting), and a stream object closed cleanly can be entered again."""
    fake = FakeGateway()

    async def scenario() -> None:
        async with serving(fake) as target:
            stream = IngestStream(target, window_frames=2)
            for sequence in (1, 2):  # entered twice, closed cleanly each time
                async with stream:
                    assert (await asyncio.wait_for(await stream.send(_frame(sequence)), 10)).code == OK
            fake.release.clear()  # acks wait from here
            await stream.__aenter__()
            pending = await stream.send(_frame(3))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await stream.close()
            with pytest.raises(IngestError, match="reader stopped"):
                await asyncio.wait_for(pending, 5)
            fake.release.set()

    asyncio.run(scenario())


def test_close_gives_up_at_its_deadline_and_fails_the_unacknowledged_frames() -> None:
    fake = FakeGateway()
    fake.release.clear()

    async def scenario() -> asyncio.Future[ingest_pb2.IngestAck]:
        async with serving(fake) as target:
            client = VendorClient(target, retry=FAST)
            await client.start()
            future = await client.send(_frame(1))
            with pytest.raises(IngestError, match="1 frames were not acknowledged"):
                await client.close(timeout_s=0.2)
            return future

    future = asyncio.run(scenario())
    assert isinstance(future.exception(), IngestError)


@pytest.mark.parametrize(
    ("abort_with", "policy", "streams"),
    [
        (grpc.StatusCode.PERMISSION_DENIED, FAST, 1),  # not transient: no retry
        (grpc.StatusCode.UNAVAILABLE, RetryPolicy(0.005, 0.05, max_attempts=3), 3),
    ],
)
def test_a_stream_that_cannot_succeed_fails_the_frames(
    abort_with: grpc.StatusCode, policy: RetryPolicy, streams: int
) -> None:
    fake = FakeGateway()
    fake.abort_with = abort_with

    async def scenario() -> None:
        async with serving(fake) as target:
            client = VendorClient(target, retry=policy)
            await client.start()
            future = await client.send(_frame(1))
            with pytest.raises(IngestError, match=abort_with.name):
                await future
            with pytest.raises(IngestError, match=abort_with.name):
                await client.send(_frame(2))
            with pytest.raises(IngestError, match=abort_with.name):
                await client.close()

    asyncio.run(scenario())
    assert fake.streams == streams


def test_sequences_are_assigned_per_source_and_a_frame_key_is_used_once_at_a_time() -> None:
    fake = FakeGateway()
    fake.release.clear()

    async def scenario() -> None:
        async with serving(fake) as target:
            client = VendorClient(target, first_sequence=1000, retry=FAST)
            await client.start()
            auto = [_frame(0, f"a{i}") for i in range(2)]
            for frame in auto:
                await client.send(frame)
            assert [frame.sequence for frame in auto] == [1000, 1001]
            explicit = _frame(5000, "explicit")
            await client.send(explicit)
            after = _frame(0, "after")
            await client.send(after)
            other = _frame(0, "other", source_id="lane-2")
            await client.send(other)
            assert (explicit.sequence, after.sequence, other.sequence) == (5000, 5001, 1000)
            unnamed = _frame(0, "", source_id="lane-3")
            unnamed.frame_id = ""
            await client.send(unnamed)
            assert unnamed.frame_id and unnamed.sequence == 1000
            with pytest.raises(ValueError, match="already on its way"):
                await client.send(_frame(5000, "again"))
            with pytest.raises(ValueError, match="source_id"):
                await client.send(_frame(1, source_id=""))
            fake.release.set()
            await client.close()
            assert client.stats.frames_acked == 6

    asyncio.run(scenario())


@contextlib.contextmanager
def serving_in_thread(fake: FakeGateway) -> Iterator[str]:
    """The fake on an event loop of its own, for the synchronous client."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    context = serving(fake)
    try:
        yield asyncio.run_coroutine_threadsafe(context.__aenter__(), loop).result()
    finally:
        asyncio.run_coroutine_threadsafe(context.__aexit__(None, None, None), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_the_sync_client_delivers_every_frame_once_across_a_lost_stream() -> None:
    fake = FakeGateway()
    fake.ack_first, fake.then_lose = 1, 2
    with serving_in_thread(fake) as target, SyncVendorClient(target, retry=FAST, window_frames=4) as client:
        acks = client.send_many([_frame(i) for i in range(1, 7)])
    assert [ack.code for ack in acks] == [OK] * 6
    assert len(fake.accepts) == 6 and set(fake.accepts.values()) == {1}
    assert client.client.stats.duplicates == 2


def test_backoff_grows_exponentially_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=2.0, multiplier=2.0, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay_s(attempt, rng) for attempt in range(1, 12)]
    ceilings = [min(2.0, 0.1 * 2 ** (attempt - 1)) for attempt in range(1, 12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays[6:]}) > 1, "jitter spreads the capped delays"
    assert RetryPolicy(jitter=0).delay_s(1) == 0.1
    assert not policy.gives_up_after(10**6) and RetryPolicy(max_attempts=2).gives_up_after(2)
    with pytest.raises(ValueError):
        RetryPolicy(initial_backoff_s=3, max_backoff_s=1)
    assert retryable_stream_code(grpc.StatusCode.UNAVAILABLE)
    assert not retryable_stream_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
