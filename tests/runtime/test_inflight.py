"""Batches decided while the next is taken (``runtime/inflight.py``), on Faust's own message type: a
message's offset is committable only after its batch's verdicts are stored, batches are stored in the
order they were taken, at most ``limit`` are in flight, and a failed batch is never acked."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from faust.types.tuples import ConsumerMessage

from smartcustoms.runtime.inflight import BatchesInFlight, ordered


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """An async test run on a fresh event loop, with a deadline so a hang fails instead of blocking."""

    @functools.wraps(test)
    def sync() -> None:
        asyncio.run(asyncio.wait_for(test(), 10))

    return sync


class Consumer:
    """Where Faust's final ack of a message lands (``Consumer.ack``): the offsets it may now commit."""

    def __init__(self) -> None:
        self.committable: list[int] = []

    def ack(self, message: ConsumerMessage) -> bool:
        self.committable.append(message.offset)
        return True


class Event:
    """A Faust event as ``take_events`` hands it out: the stream holds one reference to its message."""

    def __init__(self, consumer: Consumer, offset: int) -> None:
        self.consumer = consumer
        self.message = ConsumerMessage("frames", 0, offset, 0.0, 0, None, None, b"", None)
        self.message.incref()  # the stream's reference, as Faust's conductor takes it

    def ack(self) -> bool:
        return self.message.ack(self.consumer)  # type: ignore[arg-type]  # only .ack is used


def batch(consumer: Consumer, *offsets: int) -> list[Event]:
    return [Event(consumer, offset) for offset in offsets]


def take_acks(events: list[Event]) -> None:
    """What ``take()`` does when the agent asks for the next batch."""
    for event in events:
        event.ack()


class Steps:
    """Batch work that records when it decides and stores, each decision released by the test."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    def work(self, name: str, fail: bool = False) -> Any:
        self.release[name] = asyncio.Event()

        async def run(before: asyncio.Task[None] | None) -> None:
            self.log.append(f"decide {name}")
            await self.release[name].wait()
            if fail:
                raise RuntimeError(f"batch {name} failed")
            await ordered(before)
            self.log.append(f"store {name}")

        return run


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@run
async def test_the_next_batch_is_decided_while_the_first_is_still_in_flight() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2)
    first, second = batch(consumer, 0, 1), batch(consumer, 2, 3)
    await flight.submit(first, steps.work("a"))  # returns at once: the agent goes back to take()
    take_acks(first)
    agent = asyncio.create_task(flight.submit(second, steps.work("b")))  # waits for "a" to finish
    await settle()
    assert steps.log == ["decide a", "decide b"]
    assert not agent.done()
    steps.release["a"].set()
    await asyncio.wait_for(agent, 1)
    steps.release["b"].set()
    await flight.drain(5)
    assert steps.log[2:] == ["store a", "store b"]


@run
async def test_with_one_in_flight_each_batch_finishes_before_the_next_is_taken() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(1)
    agent = asyncio.create_task(flight.submit(batch(consumer, 0), steps.work("a")))
    await settle()
    assert not agent.done()  # the awaited loop: the agent waits for its own batch
    steps.release["a"].set()
    await asyncio.wait_for(agent, 1)
    assert steps.log == ["decide a", "store a"]
    assert len(flight) == 0


@run
async def test_a_batch_decided_first_is_stored_after_the_one_taken_before_it() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(3)
    first, second = batch(consumer, 0), batch(consumer, 1)
    await flight.submit(first, steps.work("a"))
    await flight.submit(second, steps.work("b"))
    take_acks(first)
    take_acks(second)
    steps.release["b"].set()  # the later batch's plugins answer first
    await settle()
    assert "store b" not in steps.log
    assert consumer.committable == []  # nothing committable while "a" is undecided
    steps.release["a"].set()
    await flight.drain(5)
    assert steps.log == ["decide a", "decide b", "store a", "store b"]
    assert consumer.committable == [0, 1]


@run
async def test_take_s_ack_alone_does_not_make_an_offset_committable() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2)
    events = batch(consumer, 7, 8)
    await flight.submit(events, steps.work("a"))
    take_acks(events)  # the agent asked for the next batch
    await settle()
    assert consumer.committable == []
    assert all(not event.message.acked for event in events)
    steps.release["a"].set()
    await flight.drain(5)
    assert consumer.committable == [7, 8]


@run
async def test_a_batch_finished_before_take_s_ack_is_committed_at_that_ack() -> None:
    consumer = Consumer()
    flight = BatchesInFlight(1)  # one at a time: submit waits for the batch it started

    async def quick(before: asyncio.Task[None] | None) -> None:
        await ordered(before)

    events = batch(consumer, 3)
    await flight.submit(events, quick)
    assert consumer.committable == []  # the stream's own reference is still held
    take_acks(events)
    assert consumer.committable == [3]


@run
async def test_no_more_than_the_limit_is_in_flight() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2)
    await flight.submit(batch(consumer, 0), steps.work("a"))
    third_taken = asyncio.Event()

    async def agent() -> None:
        await flight.submit(batch(consumer, 1), steps.work("b"))
        third_taken.set()

    task = asyncio.create_task(agent())
    await settle()
    assert not third_taken.is_set()  # two in flight: the agent may not take another
    assert len(flight) == 2
    steps.release["a"].set()
    await asyncio.wait_for(third_taken.wait(), 1)
    assert len(flight) == 1
    steps.release["b"].set()
    await task
    await flight.drain(5)


@run
async def test_a_failed_batch_is_not_acked_and_its_error_reaches_the_agent() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(3)
    failing, after = batch(consumer, 0, 1), batch(consumer, 2)
    await flight.submit(failing, steps.work("a", fail=True))
    await flight.submit(after, steps.work("b"))
    take_acks(failing)
    take_acks(after)
    steps.release["a"].set()
    steps.release["b"].set()
    await settle()
    with pytest.raises(RuntimeError, match="batch a failed"):
        await flight.submit(batch(consumer, 3), steps.work("c"))
    assert "store b" not in steps.log  # never stored ahead of the batch that failed
    assert consumer.committable == []  # both delivered again after the restart
    with pytest.raises(RuntimeError):
        await flight.drain(5)


@run
async def test_at_the_stop_a_batch_still_deciding_is_cancelled_and_left_unacked() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2)
    events = batch(consumer, 5)
    await flight.submit(events, steps.work("a"))
    take_acks(events)
    await flight.drain(0.05)  # "a" is never released
    assert steps.log == ["decide a"]
    assert consumer.committable == []
    assert len(flight) == 0


@run
async def test_a_stop_while_the_agent_waits_does_not_cancel_the_batch_it_waits_for() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(1)
    events = batch(consumer, 4)
    agent = asyncio.create_task(flight.submit(events, steps.work("a")))
    await settle()
    agent.cancel()  # Faust stops the agent while its batch is on Ray
    with pytest.raises(asyncio.CancelledError):
        await agent
    take_acks(events)  # take()'s generator is closed: its acks run
    steps.release["a"].set()
    await flight.drain(5)  # the agent's ``finally``
    assert steps.log == ["decide a", "store a"]
    assert consumer.committable == [4]


def test_at_least_one_batch_in_flight() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BatchesInFlight(0)
