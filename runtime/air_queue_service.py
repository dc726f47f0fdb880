"""The air cargo queue in the gateway: the gRPC ``QueueService``, the queue's events as records on the
stream, its metrics, and the loop that skips no-shows and tells drivers to set off.

``AirQueueHost`` is what the gateway process holds: the desk (``runtime/air_queue``), its servicer,
its pages (``air_queue_page``), its collector, and one task that every ``TICK_S`` sweeps the queue and
publishes the events waiting in Redis as one record frame (a ``RecordBatch`` of ``air_queue_event``
records), made durable in the ledger and published to the records topic like any vendor's record frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import redis as sync_redis
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from redis.exceptions import RedisError

from smartcustoms.core import metrics as m
from smartcustoms.core.air_queue import QueueError
from smartcustoms.core.config import Config
from smartcustoms.core.types import RECORD_KIND_KEY, Modality
from smartcustoms.runtime.air_queue import (
    CANCELLED,
    DONE,
    RECORD_KIND,
    WAITING,
    Book,
    CounterStateError,
    QueueDesk,
    TerminalClosed,
    Ticket,
    TicketNotFound,
    TicketStateError,
    queue_key,
)
from smartcustoms.runtime.ledger import AcceptOutcome, Ledger
from smartcustoms.runtime.officer_auth import GrpcGate, grpc_gate
from smartcustoms.runtime.publisher import Publisher
from smartcustoms.v1 import frame_pb2, queue_pb2, queue_pb2_grpc

log = logging.getLogger(__name__)

TICK_S = 1.0
WATCH_POLL_S = 0.5
WATCH_REFRESH_S = 15.0  # a watched ticket is sent again this often even unchanged (its prediction moves)
SOURCE_ID = "air-queue"
REDELIVER_AFTER_S = 30.0
T = TypeVar("T")

# Desk errors as gRPC status codes (the HTTP page maps them to 4xx the same way).
STATUS_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (TicketNotFound, grpc.StatusCode.NOT_FOUND),
    (TerminalClosed, grpc.StatusCode.FAILED_PRECONDITION),
    (TicketStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (CounterStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (QueueError, grpc.StatusCode.INVALID_ARGUMENT),
    (RedisError, grpc.StatusCode.UNAVAILABLE),
)
ERRORS = tuple(kind for kind, _ in STATUS_CODES)


def ticket_message(view: dict[str, Any]) -> queue_pb2.QueueTicket:
    fields = queue_pb2.QueueTicket.DESCRIPTOR.fields_by_name
    return queue_pb2.QueueTicket(**{k: v for k, v in view.items() if k in fields})


def board_message(board: dict[str, Any]) -> queue_pb2.QueueBoard:
    return queue_pb2.QueueBoard(
        terminal_open=board["terminal_open"],
        grace_s=board["grace_s"],
        counters=[
            queue_pb2.QueueCounter(
                counter_id=c["counter_id"],
                open=c["open"],
                ticket=ticket_message(c["ticket"]) if c["ticket"] else None,
            )
            for c in board["counters"]
        ],
        waiting=[ticket_message(t) for t in board["waiting"]],
    )


class QueueServicer(queue_pb2_grpc.QueueServiceServicer):
    """``smartcustoms.v1.QueueService``: each method hands the work to the desk.

    Drivers' methods (tickets, the board) are public, as the drivers' page is. With a ``gate``
    (``gateway.officer_auth`` on) the counters' methods need a logged-in officer (a screener's; opening
    and closing the terminal a supervisor's, as on the officers' page) and record that account, whatever
    ``officer`` the request names; without one the request names the officer.
    """

    def __init__(self, desk: QueueDesk, gate: GrpcGate | None = None) -> None:
        self.desk = desk
        self.gate = gate

    async def _officer(self, named: str, context: grpc.aio.ServicerContext, role: str = "screener") -> str:
        if self.gate is None:
            return named
        return (await self.gate.officer(context, role)).name

    async def _answer(self, work: Awaitable[T], context: grpc.aio.ServicerContext) -> T:
        try:
            return await work
        except ERRORS as error:
            code = next(code for kind, code in STATUS_CODES if isinstance(error, kind))
            await context.abort(code, str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise AssertionError("unreachable: abort raises")

    async def _ticket(
        self, work: Awaitable[dict[str, Any]], context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueTicket:
        return ticket_message(await self._answer(work, context))

    async def _board(
        self, work: Awaitable[object], context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        await self._answer(work, context)
        return board_message(await self._answer(self.desk.board(), context))

    async def TakeTicket(
        self, request: queue_pb2.TakeTicketRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueTicket:
        return await self._ticket(
            self.desk.take(request.cargo_type, request.travel_s, request.driver), context
        )

    async def GetTicket(
        self, request: queue_pb2.TicketRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueTicket:
        return await self._ticket(self.desk.view(request.ticket_id), context)

    async def CancelTicket(
        self, request: queue_pb2.TicketRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueTicket:
        return await self._ticket(self.desk.cancel(request.ticket_id), context)

    async def RejoinTicket(
        self, request: queue_pb2.TicketRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueTicket:
        return await self._ticket(self.desk.rejoin(request.ticket_id), context)

    async def WatchTicket(
        self, request: queue_pb2.TicketRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[queue_pb2.QueueTicket]:
        async for view in watch_ticket(self.desk, request.ticket_id):
            if isinstance(view, Exception):
                await self._answer(_raise(view), context)
            else:
                yield ticket_message(view)

    async def OpenCounter(
        self, request: queue_pb2.CounterRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        officer = await self._officer(request.officer, context)
        return await self._board(self.desk.open_counter(request.counter_id, officer), context)

    async def CloseCounter(
        self, request: queue_pb2.CounterRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        officer = await self._officer(request.officer, context)
        return await self._board(self.desk.close_counter(request.counter_id, officer), context)

    async def CallNext(
        self, request: queue_pb2.CounterRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        officer = await self._officer(request.officer, context)
        work = self.desk.call_next(request.counter_id, officer, request.ticket_id)
        return await self._board(work, context)

    async def MarkArrived(
        self, request: queue_pb2.CounterRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        officer = await self._officer(request.officer, context)
        return await self._board(self.desk.arrived(request.counter_id, officer), context)

    async def SetTerminal(
        self, request: queue_pb2.TerminalRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        officer = await self._officer(request.officer, context, "supervisor")
        return await self._board(self.desk.set_terminal(request.open, officer), context)

    async def GetBoard(
        self, request: queue_pb2.GetBoardRequest, context: grpc.aio.ServicerContext
    ) -> queue_pb2.QueueBoard:
        return board_message(await self._answer(self.desk.board(), context))


async def _raise(error: Exception) -> None:
    raise error


async def watch_ticket(desk: QueueDesk, ticket_id: str) -> AsyncIterator[dict[str, Any] | Exception]:
    """A ticket's view now, then whenever the queue changed (or ``WATCH_REFRESH_S`` passed), until it is
    done or cancelled; an error (unknown ticket) is yielded as the exception, once, and ends it."""
    seen_version, sent_at, last = -1, 0.0, None
    while True:
        version = await desk.version()
        if version != seen_version or time.monotonic() - sent_at > WATCH_REFRESH_S:
            try:
                view = await desk.view(ticket_id)
            except ERRORS as error:
                yield error
                return
            seen_version = version
            if view != last or time.monotonic() - sent_at > WATCH_REFRESH_S:
                yield view
                last, sent_at = view, time.monotonic()
            if view["status"] in (DONE, CANCELLED):
                return
        await asyncio.sleep(WATCH_POLL_S)


# --------------------------------------------------------------------------- events as records


def events_frame(events: list[dict[str, str]], sequence: int, control_point: str) -> frame_pb2.Frame:
    """One record frame holding ``events`` as ``air_queue_event`` records."""
    batch = frame_pb2.RecordBatch(
        records=[
            frame_pb2.Record(record_id=f"aq-{sequence}-{i}", kind=RECORD_KIND, fields=event)
            for i, event in enumerate(events)
        ]
    )
    payload = batch.SerializeToString()
    frame = frame_pb2.Frame(
        frame_id=str(uuid.uuid4()),
        source_id=SOURCE_ID,
        modality=Modality.RECORD.to_proto(),  # type: ignore[arg-type]  # protoc types enum arguments as the enum class
        sequence=sequence,
        dtype=frame_pb2.DTYPE_UNSPECIFIED,
        encoding="protobuf",
        metadata={RECORD_KIND_KEY: RECORD_KIND, "record_count": str(len(events))},
        payload=payload,
        payload_bytes=len(payload),
        control_point=control_point,
    )
    frame.capture_time.GetCurrentTime()
    frame.accepted_time.GetCurrentTime()
    return frame


class AirQueueHost:
    """The queue's parts in one gateway process."""

    def __init__(
        self,
        config: Config,
        client: aioredis.Redis,
        ledger: Ledger,
        publisher: Publisher,
        registry: CollectorRegistry,
    ) -> None:
        self.config = config
        self.desk = QueueDesk(client, config.namespace)
        self.gate = grpc_gate(config, client)  # officers log in for the counters' methods
        self.ledger = ledger
        self.publisher = publisher
        registry.register(QueueCollector(config.redis.url, config.namespace))
        self._task: asyncio.Task[None] | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        queue_pb2_grpc.add_QueueServiceServicer_to_server(QueueServicer(self.desk, self.gate), server)  # type: ignore[no-untyped-call]  # generated, untyped

    def add_routes(self, app: web.Application) -> None:
        from smartcustoms.runtime.air_queue_page import add_routes

        add_routes(app, self.desk)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.publish_events(), 2.0)  # what the last changes said
        except (TimeoutError, Exception) as error:
            log.warning("air queue events not published at stop (they stay in Redis): %r", error)

    async def run(self) -> None:
        while True:
            try:
                await self.desk.sweep()
                await self.publish_events()
            except Exception as error:  # Redis or the broker away: try again next tick
                log.warning("air queue tick failed: %r", error)
            await asyncio.sleep(TICK_S)

    async def publish_events(self) -> int:
        """Publish the events waiting in Redis as one record frame; return how many."""
        events = await self.desk.take_events()
        if not events:
            return 0
        sequence = int(await self.desk.client.incr(self.desk.key("event_frames")))
        frame = events_frame(events, sequence, self.config.control_point)
        outcome, _ = await self.ledger.accept(frame, REDELIVER_AFTER_S)
        if outcome == AcceptOutcome.ACCEPTED:
            try:
                await self.publisher.publish(frame)
            except Exception as error:  # durable in the ledger: the reconciler republishes it
                log.warning("air queue events frame %s not published yet: %r", frame.frame_id, error)
        return len(events)


# --------------------------------------------------------------------------- metrics


class QueueCollector(Collector):
    """The queue's gauges and running totals, read from Redis at scrape time (every gateway agrees)."""

    def __init__(self, redis_url: str, namespace: str, clock: Callable[[], float] = time.time) -> None:
        self._client = sync_redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._namespace = namespace
        self._clock = clock

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        raw = self._client.get(queue_key(self._namespace, "book"))
        book = Book.from_json(raw)
        tickets = (
            self._client.mget([queue_key(self._namespace, "ticket", t) for t in book.waiting])
            if book.waiting
            else []
        )
        waiting = [Ticket.from_json(t) for t in tickets if t is not None]
        stats = {
            _text(k): float(v) for k, v in self._client.hgetall(queue_key(self._namespace, "stats")).items()
        }
        by_cargo = GaugeMetricFamily(
            m.AIR_QUEUE_WAITING.name, m.AIR_QUEUE_WAITING.documentation, labels=["cargo_type"]
        )
        for cargo in sorted(book.queue_settings().priorities):
            by_cargo.add_metric(
                [cargo], sum(1 for t in waiting if t.cargo_type == cargo and t.status == WAITING)
            )
        yield by_cargo
        yield GaugeMetricFamily(
            m.AIR_QUEUE_COUNTERS_OPEN.name,
            m.AIR_QUEUE_COUNTERS_OPEN.documentation,
            value=sum(1 for c in book.counters.values() if c.open),
        )
        oldest = max((self._clock() - t.issued_at for t in waiting), default=0.0)
        yield GaugeMetricFamily(
            m.AIR_QUEUE_OLDEST_WAIT.name, m.AIR_QUEUE_OLDEST_WAIT.documentation, value=oldest
        )
        yield _counter(
            m.AIR_QUEUE_EVENTS_TOTAL, {(e,): stats.get(f"events:{e}", 0.0) for e in m.AIR_QUEUE_EVENTS}
        )
        yield _counter(m.AIR_QUEUE_FIRST_CALLS, {(): stats.get("first_calls", 0.0)})
        yield _counter(m.AIR_QUEUE_WAIT, {(): stats.get("wait_s", 0.0)})
        predictors = m.AIR_QUEUE_PREDICTORS
        yield _counter(
            m.AIR_QUEUE_PREDICTED_WAIT, {(p,): stats.get(f"predicted_wait_s:{p}", 0.0) for p in predictors}
        )
        yield _counter(m.AIR_QUEUE_PREDICTED, {(p,): stats.get(f"predicted:{p}", 0.0) for p in predictors})
        yield _counter(
            m.AIR_QUEUE_PREDICTION_ERROR, {(p,): stats.get(f"error_s:{p}", 0.0) for p in predictors}
        )


def _counter(metric: m.CollectedMetric, values: dict[tuple[str, ...], float]) -> CounterMetricFamily:
    """A counter family; its name without the _total prometheus_client adds back."""
    family = CounterMetricFamily(
        metric.name.removesuffix("_total"), metric.documentation, labels=list(metric.labels)
    )
    for labels, value in values.items():
        family.add_metric(list(labels), value)
    return family


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- the demo's line


def queue_line(redis_url: str, namespace: str, now: float | None = None) -> str:
    """The demo's line: tickets and calls from the queue's totals, the mean wait and the prediction
    error of both predictors, and what the air_queue plugin tallied from the events on the stream."""
    from smartcustoms.core.keys import plugin_state_prefix
    from smartcustoms.core.state import open_state
    from smartcustoms.plugins.air_queue import day_of, day_tallies

    client = sync_redis.Redis.from_url(redis_url, socket_timeout=5.0)
    try:
        stats = {_text(k): float(v) for k, v in client.hgetall(queue_key(namespace, "stats")).items()}
        book = Book.from_json(client.get(queue_key(namespace, "book")))
    finally:
        client.close()
    state = open_state(redis_url, plugin_state_prefix(namespace, "air_queue"))
    try:
        cargo_types = sorted(book.queue_settings().priorities)
        tallied = day_tallies(state, day_of(now or time.time()), cargo_types)
    finally:
        state.close()
    calls = stats.get("first_calls", 0.0)

    def mae(name: str) -> str:
        count = stats.get(f"predicted:{name}", 0.0)
        return f"{stats.get(f'error_s:{name}', 0.0) / count:.0f} s" if count else "-"

    events = sum(v for k, v in stats.items() if k.startswith("events:"))
    issued_by_plugin = sum(t["issued"] for t in tallied.values())
    return (
        f"air cargo queue: {stats.get('issued', 0):.0f} tickets, {calls:.0f} called (mean wait "
        f"{stats.get('wait_s', 0.0) / calls if calls else 0:.0f} s; predicted at issue, MAE model "
        f"{mae('model')} "
        f"vs naive {mae('naive')}), {stats.get('no_show', 0):.0f} no-shows, {stats.get('cancelled', 0):.0f} "
        f"cancelled, {len(book.waiting)} waiting; {events:.0f} queue events on the stream; "
        f"tickets {issued_by_plugin:.0f} tallied by the air_queue plugin"
    )
