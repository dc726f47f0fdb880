"""Batches decided while the next is taken (``runtime/inflight.py``).

Two levels, both on Faust's own types: ``BatchesInFlight`` alone (its events Faust ``ConsumerMessage``\\ s),
and the worker's frames agent itself (``runtime.worker._frames_agent``) reading a real Faust stream
through ``take_events``, with the dispatcher, sink and topics replaced by recorders. What must hold: an
offset is committable only after its batch has finished, batches store in the order they were taken,
at most ``limit`` are in flight, a failed batch is released in its turn and the stream goes on, and a
batch cancelled at the stop stays held (delivered again)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import faust
import numpy as np
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    ProducerClosed,
)
from faust.events import Event as FaustEvent
from faust.exceptions import NotReady, ProducerSendError
from faust.types.tuples import ConsumerMessage
from prometheus_client import CollectorRegistry

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime import worker
from smartcustoms.runtime.inflight import BatchesInFlight, StopDeadline, ordered
from smartcustoms.v1 import frame_pb2, results_pb2


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """An async test run on a fresh event loop, with a deadline so a hang fails instead of blocking."""

    @functools.wraps(test)
    def sync() -> None:
        asyncio.run(asyncio.wait_for(test(), 20))

    return sync


class Consumer:
    """Where Faust's final ack of a message lands (``Consumer.ack``): the offsets it may now commit."""

    def __init__(self) -> None:
        self.committable: list[int] = []
        self._unacked_messages: set[Any] = set()

    def ack(self, message: ConsumerMessage) -> bool:
        if not message.acked:
            message.acked = True
            self.committable.append(message.offset)
        return True

    def track_message(self, message: Any) -> None:
        pass


# --- BatchesInFlight alone ------------------------------------------------------------------------------


class Event:
    """A Faust event as ``take_events`` hands it out: the stream holds one reference to its message."""

    def __init__(self, consumer: Consumer, offset: int) -> None:
        self.consumer = consumer
        self.message = ConsumerMessage("frames", 0, offset, 0.0, 0, None, None, b"", None)
        self.message.incref()  # the conductor's reference

    def ack(self) -> bool:
        return self.message.ack(self.consumer)  # type: ignore[arg-type]  # only .ack is used


async def stream_ack(event: Event) -> bool:
    return event.ack()


def batch(consumer: Consumer, *offsets: int) -> list[Event]:
    return [Event(consumer, offset) for offset in offsets]


def take_acks(events: list[Event]) -> None:
    """What ``take_events`` does when the agent asks for the next batch."""
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


async def taken(
    flight: BatchesInFlight, consumer: Consumer, steps: Steps, **batches: tuple[int, ...]
) -> None:
    """Batches taken one after another (named by their work, with their offsets), each handed over
    and then acked by ``take_events`` as the agent asks for the next."""
    for name, offsets in batches.items():
        events = batch(consumer, *offsets)
        await flight.submit(events, steps.work(name))
        take_acks(events)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@run
async def test_the_next_batch_is_decided_while_the_first_is_still_in_flight() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2, stream_ack)
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
    await flight.drain(StopDeadline(5))
    assert steps.log[2:] == ["store a", "store b"]


@run
async def test_with_one_in_flight_each_batch_finishes_before_the_next_is_taken() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(1, stream_ack)
    agent = asyncio.create_task(flight.submit(batch(consumer, 0), steps.work("a")))
    await settle()
    assert not agent.done()  # the awaited loop: the agent waits for its own batch
    steps.release["a"].set()
    await asyncio.wait_for(agent, 1)
    assert steps.log == ["decide a", "store a"]
    assert len(flight) == 0


@run
async def test_a_batch_decided_first_is_stored_and_released_after_the_one_taken_before_it() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(3, stream_ack)
    await taken(flight, consumer, steps, a=(0,), b=(1,))
    steps.release["b"].set()  # the later batch's plugins answer first
    await settle()
    assert "store b" not in steps.log
    assert consumer.committable == []  # nothing committable while "a" is undecided
    steps.release["a"].set()
    await flight.drain(StopDeadline(5))
    assert steps.log == ["decide a", "decide b", "store a", "store b"]
    assert consumer.committable == [0, 1]


@run
async def test_take_s_ack_alone_does_not_make_an_offset_committable() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2, stream_ack)
    events = batch(consumer, 7, 8)
    await flight.submit(events, steps.work("a"))
    take_acks(events)  # the agent asked for the next batch
    await settle()
    assert consumer.committable == []
    assert all(not event.message.acked for event in events)
    steps.release["a"].set()
    await flight.drain(StopDeadline(5))
    assert consumer.committable == [7, 8]


@run
async def test_no_more_than_the_limit_is_in_flight() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2, stream_ack)
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
    await flight.drain(StopDeadline(5))


@run
async def test_a_failed_batch_is_released_in_its_turn_and_the_next_is_stored() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(4, stream_ack)
    first, failing, after = batch(consumer, 0), batch(consumer, 1, 2), batch(consumer, 3)
    for events, work in (
        (first, steps.work("a")),
        (failing, steps.work("b", fail=True)),
        (after, steps.work("c")),
    ):
        await flight.submit(events, work)
        take_acks(events)
    steps.release["b"].set()
    steps.release["c"].set()
    await settle()
    assert consumer.committable == []  # "b" failed, but "a" before it is still undecided
    steps.release["a"].set()
    await flight.drain(StopDeadline(5))
    assert steps.log[-2:] == ["store a", "store c"]
    assert consumer.committable == [0, 1, 2, 3]  # "b" left to the reconciler, the stream goes on


@run
async def test_a_stop_while_the_agent_waits_does_not_cancel_the_batch_it_waits_for() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(1, stream_ack)
    events = batch(consumer, 4)
    agent = asyncio.create_task(flight.submit(events, steps.work("a")))
    await settle()
    agent.cancel()  # Faust stops the agent while its batch is on Ray
    with pytest.raises(asyncio.CancelledError):
        await agent
    take_acks(events)  # take_events' generator is closed: its acks run
    steps.release["a"].set()
    await flight.drain(StopDeadline(5))  # the agent's ``finally``
    assert steps.log == ["decide a", "store a"]
    assert consumer.committable == [4]


@run
async def test_at_the_stop_deadline_batches_still_deciding_are_cancelled_and_stay_held() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(4, stream_ack)
    await taken(flight, consumer, steps, a=(5,), b=(6,), c=(7,))
    steps.release["a"].set()
    steps.release["c"].set()  # decided, waiting for "b" before it stores
    deadline = StopDeadline(0.05)
    await flight.drain(deadline)  # "b" is never released
    assert "store b" not in steps.log and "store c" not in steps.log
    assert consumer.committable == [5]  # "b" and "c" are delivered again after the restart
    assert len(flight) == 0
    assert deadline.until() <= time.monotonic()  # the next agent's drain gets what is left: nothing


@run
async def test_a_drain_cancelled_by_the_stop_still_gives_its_batches_the_shared_budget() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2, stream_ack)
    await taken(flight, consumer, steps, a=(9,))
    draining = asyncio.create_task(flight.drain(StopDeadline(5)))
    await settle()
    draining.cancel()  # Faust stops this agent once the agents before it have stopped
    await settle()
    assert not draining.done()  # still waiting for "a", within the budget
    steps.release["a"].set()
    with pytest.raises(asyncio.CancelledError):
        await draining  # the stop goes on once "a" is stored
    assert steps.log == ["decide a", "store a"]
    assert consumer.committable == [9]


@run
async def test_a_drain_cancelled_past_the_deadline_cancels_its_batches_and_leaves_them_held() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(2, stream_ack)
    await taken(flight, consumer, steps, a=(10,))  # "a" is never released
    (task,) = flight.tasks
    draining = asyncio.create_task(flight.drain(StopDeadline(0.1)))
    await settle()
    draining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await draining
    assert task.cancelled()  # no batch task outlives the drain
    assert consumer.committable == []


@run
async def test_a_batch_after_one_cancelled_is_not_released_even_when_its_own_work_finished() -> None:
    consumer, steps = Consumer(), Steps()
    flight = BatchesInFlight(3, stream_ack)
    await taken(flight, consumer, steps, a=(20,), b=(21,))
    steps.release["b"].set()  # "b" decided; it waits for "a"
    await settle()
    flight.tasks[0].cancel()  # "a" cancelled; the cancel meant for "b" was lost (its call had just ended)
    await asyncio.wait(list(flight.tasks))
    assert "store b" not in steps.log  # nor stored ahead of it
    assert consumer.committable == []  # 21 is not committed past 20, which is delivered again


def test_the_stop_deadline_is_shared_at_the_stop_and_fresh_for_an_agent_ended_while_the_app_runs() -> None:
    stopping = False
    deadline = StopDeadline(30, stopping=lambda: stopping)
    ended_mid_run = deadline.until()
    time.sleep(0.01)
    assert deadline.until() > ended_mid_run  # each such drain gets the whole budget, from when it asks
    stopping = True
    first = deadline.until()
    assert first > ended_mid_run
    assert deadline.until() == first  # every agent's drain at the stop ends by the same time


def test_at_least_one_batch_in_flight() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BatchesInFlight(0, stream_ack)


# --- the worker's frames agent on a real Faust stream -----------------------------------------------------


class Dispatcher:
    """Decides each frame when the test releases its frame id; records the batches it was given."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.batches: list[list[str]] = []

    def gate(self, frame_id: str) -> asyncio.Event:
        return self.release.setdefault(frame_id, asyncio.Event())

    async def decide(self, frames: list[frame_pb2.Frame]) -> list[results_pb2.Verdict]:
        self.batches.append([frame.frame_id for frame in frames])
        for frame in frames:
            await self.gate(frame.frame_id).wait()
        return [results_pb2.Verdict(frame_id=f.frame_id, decision=results_pb2.DECISION_CLEAR) for f in frames]


class Runtime:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sensor = Sensor(Metrics(self.registry))
        self.dispatcher = Dispatcher()


class Sink:
    def __init__(self) -> None:
        self.stored: list[str] = []

    async def store_verdicts_waiting(self, decided: list[results_pb2.Verdict]) -> None:
        self.stored += [verdict.frame_id for verdict in decided]


class Topic:
    """The verdicts or dead-letter topic: what was sent, in order; ``fail`` makes every send raise;
    while ``refusal`` is set, a send is queued but its acknowledgement fails with it, as aiokafka's
    does (``KafkaTimeoutError``: the broker did not answer), and nothing is sent."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[bytes] = []
        self.fail = fail
        self.refusal: Exception | None = None
        self.refused = 0

    async def send(
        self, key: bytes | None = None, value: bytes = b"", headers: Any = None
    ) -> asyncio.Future[None]:
        if self.fail:
            raise RuntimeError("the producer failed on purpose")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.refusal is not None:
            self.refused += 1
            done.set_exception(self.refusal)
            return done
        self.sent.append(value)
        done.set_result(None)
        return done


class Agent:
    """``_frames_agent`` reading a Faust channel stream of its own, as the worker's app runs it."""

    def __init__(self, batch_max_frames: int, dead_letters: Topic | None = None) -> None:
        self.app = faust.App("inflight-test", broker="kafka://localhost:1", value_serializer="raw")
        self.consumer = Consumer()
        self.app.consumer = self.consumer
        self.app.topics._acking_topics.add("frames")  # acks of this topic's messages count
        self.app.flow_control.resume()
        self.stream = self.app.channel().stream()
        self.runtime, self.sink, self.verdicts = Runtime(), Sink(), Topic()
        self.dead_letters = dead_letters or Topic()
        config = Config()
        config.worker.batch_max_frames = batch_max_frames
        config.worker.batch_window_ms = 20
        self.deadline = StopDeadline(0.5)
        agent = worker._frames_agent(
            config,
            self.runtime,  # type: ignore[arg-type]  # the parts _handle uses
            Modality.XRAY,
            self.verdicts,
            self.dead_letters,
            lambda: self.sink,  # type: ignore[arg-type,return-value]  # a recorder in the sink's place
            self.deadline,
            self._settle_screening,
        )
        self.task = asyncio.create_task(self._drive(agent))
        self.offset = 0

    async def _drive(self, agent: Any) -> None:
        async for _ in agent(self.stream):
            pass

    async def _settle_screening(self, deadline: StopDeadline) -> None:
        pass  # no lane is screened

    async def put(self, value: bytes) -> None:
        message = ConsumerMessage(
            "frames",
            0,
            self.offset,
            0.0,
            0,
            None,
            None,
            value,
            None,
            generation_id=self.app.consumer_generation_id,
        )
        message.incref()  # the conductor's reference
        self.offset += 1
        await self.stream.channel.put(FaustEvent(self.app, None, value, None, message))

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.stream.stop()  # closes the take_events generator, whose acks then run


def frame(frame_id: str) -> bytes:
    made = array_frame(
        np.zeros((2, 2), np.uint8), modality=Modality.XRAY, source_id="lane-1", sequence=1, frame_id=frame_id
    )
    return made.SerializeToString()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


@run
async def test_the_agent_decides_a_frame_while_the_one_before_is_on_ray_and_stores_them_in_order() -> None:
    agent = Agent(batch_max_frames=1)
    dispatcher = agent.runtime.dispatcher
    await agent.put(frame("f0"))
    await agent.put(frame("f1"))
    await asyncio.wait_for(until(lambda: len(dispatcher.batches) == 2), 5)  # f1 taken while f0 waits
    assert dispatcher.batches == [["f0"], ["f1"]]
    dispatcher.gate("f1").set()
    await settle()
    assert agent.sink.stored == []  # f1 decided, waiting for f0 before it stores
    assert agent.consumer.committable == []
    dispatcher.gate("f0").set()
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0, 1]), 5)
    assert agent.sink.stored == ["f0", "f1"]
    assert len(agent.verdicts.sent) == 2
    await agent.stop()


@run
async def test_a_batch_whose_dead_letter_send_fails_is_released_and_the_stream_goes_on() -> None:
    agent = Agent(batch_max_frames=2, dead_letters=Topic(fail=True))
    dispatcher = agent.runtime.dispatcher
    await agent.put(frame("good"))
    await agent.put(b"\xff not a frame")  # undecodable: its batch's work raises at the dead-letter send
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0, 1]), 5)
    assert agent.sink.stored == []  # the good frame of that batch is left to the reconciler
    dispatcher.gate("next").set()
    await agent.put(frame("next"))
    await asyncio.wait_for(until(lambda: agent.sink.stored == ["next"]), 5)
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0, 1, 2]), 5)
    await agent.stop()


WAITING = "smartcustoms_stream_verdict_publish_waiting_seconds"  # the oldest publish waiting, its age


@run
async def test_stored_verdicts_the_broker_does_not_take_are_published_again_and_held_until_then() -> None:
    agent = Agent(batch_max_frames=1)
    agent.verdicts.refusal = KafkaTimeoutError()  # what a publish the broker never answered ends with
    agent.runtime.dispatcher.gate("f0").set()
    await agent.put(frame("f0"))
    await asyncio.wait_for(until(lambda: agent.verdicts.refused >= 2), 5)  # tried again, with backoff
    assert agent.sink.stored == ["f0"]  # stored: the reconciler will not publish it again
    assert agent.verdicts.sent == []
    assert agent.consumer.committable == []  # held while its verdicts are not on the topic
    waited = agent.runtime.registry.get_sample_value(WAITING)
    assert waited is not None and waited >= 0.1  # measured from its start: one backoff at least
    agent.verdicts.refusal = None
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0]), 5)
    [published] = agent.verdicts.sent
    batch = results_pb2.VerdictBatch.FromString(published)
    assert batch.stored and [v.frame_id for v in batch.verdicts] == ["f0"]
    retries = agent.runtime.registry.get_sample_value(
        "smartcustoms_stream_verdict_publish_retries_total", {"modality": "xray"}
    )
    assert retries == agent.verdicts.refused
    assert agent.runtime.registry.get_sample_value(WAITING) == 0.0  # none waits any more
    await agent.stop()


def test_a_publish_is_tried_again_when_the_broker_is_away_not_when_it_refuses_the_message() -> None:
    """Faust wraps the errors of the send itself; aiokafka's own mark those worth another try."""

    def wrapped(cause: Exception) -> ProducerSendError:
        error = ProducerSendError(f"Error while sending: {cause!r}")
        error.__cause__ = cause
        return error

    away = (KafkaTimeoutError(), KafkaConnectionError(), NotLeaderForPartitionError(), ProducerClosed())
    for error in (*away, wrapped(KafkaConnectionError()), NotReady(), ConnectionResetError()):
        assert worker._broker_away(error), error
    for error in (MessageSizeTooLargeError(), wrapped(MessageSizeTooLargeError()), ValueError("a bug")):
        assert not worker._broker_away(error), error


@run
async def test_verdicts_the_broker_refuses_for_what_they_are_are_not_retried_and_the_stream_goes_on() -> None:
    agent = Agent(batch_max_frames=1)
    agent.verdicts.refusal = MessageSizeTooLargeError()
    agent.runtime.dispatcher.gate("big").set()
    await agent.put(frame("big"))
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0]), 5)  # released in its turn
    assert agent.verdicts.refused == 1  # tried once: sending it again would only stall the partition
    agent.verdicts.refusal = None
    agent.runtime.dispatcher.gate("next").set()
    await agent.put(frame("next"))
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0, 1]), 5)
    assert len(agent.verdicts.sent) == 1
    await agent.stop()


@run
async def test_an_agent_stopped_while_a_batch_is_on_ray_leaves_its_offsets_uncommitted() -> None:
    agent = Agent(batch_max_frames=1)
    dispatcher = agent.runtime.dispatcher
    dispatcher.gate("quick").set()
    await agent.put(frame("quick"))
    await agent.put(frame("stuck"))  # never released
    await asyncio.wait_for(until(lambda: agent.consumer.committable == [0]), 5)
    await asyncio.wait_for(until(lambda: len(dispatcher.batches) == 2), 5)
    await agent.stop()  # the drain waits 0.5 s, cancels "stuck"; then take_events' acks run
    assert agent.sink.stored == ["quick"]
    assert agent.consumer.committable == [0]  # "stuck" is delivered again after the restart


class Released(faust.Sensor):
    """A Faust sensor: the messages every stream has finished with (``on_message_out``)."""

    def __init__(self) -> None:
        super().__init__()
        self.offsets: list[int] = []

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self.offsets.append(offset)


@run
async def test_faust_s_stop_of_several_agents_lets_each_finish_its_batches_within_one_budget() -> None:
    """Three frames agents run and stopped by Faust's AgentManager, as the worker's app stops them: every
    stream ends at once, then the agents are cancelled one after another. Batches that finish within the
    shared budget are stored and released, whichever agent they belong to; one stuck past it stays held."""
    app = faust.App("inflight-stop", broker="kafka://localhost:1", value_serializer="raw")
    consumer = Consumer()
    app.consumer = consumer
    app.topics._acking_topics.add("frames")
    app.flow_control.resume()
    released = Released()
    app.sensors.add(released)
    config = Config()
    config.worker.batch_max_frames = 1
    config.worker.batch_window_ms = 20
    runtime, sink, verdicts, dead_letters = Runtime(), Sink(), Topic(), Topic()
    dispatcher = runtime.dispatcher
    deadline = StopDeadline(1.5)
    settled: list[tuple[float, list[str]]] = []  # each X-ray agent's settle: its deadline, what was stored

    async def settle_screening(deadline: StopDeadline) -> None:
        settled.append((deadline.until(), sorted(sink.stored)))

    channels = {}
    for name in "abc":
        channels[name] = channel = app.channel()
        agent = worker._frames_agent(
            config,
            runtime,  # type: ignore[arg-type]  # the parts _handle uses
            Modality.XRAY,
            verdicts,
            dead_letters,
            lambda: sink,  # type: ignore[arg-type,return-value]  # a recorder in the sink's place
            deadline,
            settle_screening,
        )
        app.agent(channel, name=f"frames-{name}")(agent)
    await app.agents.start()
    offsets = {}
    for offset, (name, frame_id) in enumerate([("a", "a0"), ("b", "b0"), ("c", "c0"), ("c", "c1")]):
        message = ConsumerMessage(
            "frames",
            0,
            offset,
            0.0,
            0,
            None,
            None,
            frame(frame_id),
            None,
            generation_id=app.consumer_generation_id,
        )
        message.incref()
        offsets[frame_id] = offset
        await channels[name].put(FaustEvent(app, None, message.value, None, message))
    await asyncio.wait_for(until(lambda: len(dispatcher.batches) == 4), 5)  # c1 taken while c0 decides
    dispatcher.gate("a0").set()
    stopping = asyncio.create_task(app.agents.stop())
    await asyncio.sleep(0.2)  # every stream ended; a stopped, b's drain cancelled and still waiting
    dispatcher.gate("b0").set()
    dispatcher.gate("c0").set()  # c1 never decided: cancelled at the deadline
    await asyncio.wait_for(stopping, 5)
    assert sorted(sink.stored) == ["a0", "b0", "c0"]
    assert sorted(consumer.committable) == [offsets["a0"], offsets["b0"], offsets["c0"]]
    assert sorted(released.offsets) == sorted(consumer.committable)  # the final acks went through Faust
    # each agent then gave the bags its batches handed to screening the same deadline, after its drain:
    # the last one to stop, after every batch that finished was stored
    assert len(settled) == 3 and len({until for until, _ in settled}) == 1
    assert settled[-1][1] == ["a0", "b0", "c0"]
