"""An RFID reader that speaks LLRP 1.0.1 over TCP, for tests and demos without hardware.

It accepts one client at a time (a second one is refused with a ConnectionAttemptEvent, as readers
do), answers every request with its *_RESPONSE and an LLRPStatus (errors where a reader would give
them: an ROSpec added in a state other than Disabled, START_ROSPEC of an unknown or disabled ROSpec,
an unsupported message gets ERROR_MESSAGE), sends KEEPALIVEs at the period the client configures, and
runs the client's ROSpec: continuous (until STOP_ROSPEC; reports on GET_REPORT, STOP_ROSPEC and the
ROReportSpec's N) or periodic (Periodic start trigger, Duration AISpec, a report at each AISpec's end).

Each report holds the reads of a simulated tag population since the previous report, with only the
fields the TagReportContentSelector enabled. What a report holds depends only on the seed and the
report's number, so runs are reproducible; ``sent_reports`` is the ground truth of what went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType

import numpy as np

from smartcustoms.core import epc
from smartcustoms.hardware.llrp import rospec
from smartcustoms.hardware.llrp.client import now_us
from smartcustoms.hardware.llrp.codec import (
    LlrpProtocolError,
    Message,
    MessageType,
    StatusCode,
    TagRead,
    decode,
    encode,
    error_message,
    llrp,
    read_message,
    response,
    tag_report_data,
)

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DISABLED, INACTIVE, ACTIVE = 0, 1, 2  # ROSpecState


@dataclass(frozen=True)
class SimulatedTag:
    epc_hex: str
    read_probability: float = 0.95  # chance the tag is read at least once between two reports


def tag_population(seed: int, count: int = 12, foreign: int = 2) -> list[SimulatedTag]:
    """``count`` GS1 tags (SGTIN-96, GRAI-96, GIAI-96 in turn) and ``foreign`` tags that are not GS1
    EPC-96: a 96-bit EPC with an unassigned header, then a 128-bit EPC, and so on."""
    rng = np.random.default_rng(seed)
    tags = []
    for i in range(count):
        prefix = "489" + "".join(str(d) for d in rng.integers(0, 10, 4))  # a Hong Kong (489) 7-digit prefix
        serial = int(rng.integers(1, 2**38))
        if i % 3 == 0:
            hex_epc = epc.encode_sgtin96(prefix, "".join(str(d) for d in rng.integers(0, 10, 6)), serial)
        elif i % 3 == 1:
            hex_epc = epc.encode_grai96(prefix, "".join(str(d) for d in rng.integers(0, 10, 5)), serial)
        else:
            hex_epc = epc.encode_giai96(prefix, str(serial))
        tags.append(SimulatedTag(hex_epc))
    for i in range(foreign):
        body = rng.integers(0, 256, 15, dtype=np.uint8).tobytes()
        hex_epc = ("E2" + body[:11].hex() if i % 2 == 0 else "AD" + body.hex()).upper()
        tags.append(SimulatedTag(hex_epc, read_probability=0.6))
    return tags


@dataclass(frozen=True)
class SentReport:
    connection: int
    message_id: int
    reads: tuple[TagRead, ...]


@dataclass
class _RoSpec:
    plan: rospec.RoSpecPlan
    state: int = DISABLED
    window_start_us: int = 0
    task: asyncio.Task[None] | None = None


class ReaderSimulator:
    """``async with ReaderSimulator(tags) as reader:`` listens on ``reader.port`` of 127.0.0.1."""

    def __init__(
        self,
        tags: Iterable[SimulatedTag],
        *,
        seed: int = 0,
        host: str = LOOPBACK,
        port: int = 0,
        antennas: int = 4,
        rounds_per_s: float = 50.0,
        drop_after_reports: int | None = None,
    ) -> None:
        self.tags = list(tags)
        self.seed, self.host, self.antennas, self.rounds_per_s = seed, host, antennas, rounds_per_s
        self.drop_after_reports = drop_after_reports  # close the first connection after this many reports
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._active: _Session | None = None
        self._report_index = 0
        self._next_id = 0
        self._changed = asyncio.Event()
        self.connections = 0
        self.refused = 0
        self.sent_reports: list[SentReport] = []
        self.received: list[tuple[int, str]] = []  # (connection, message type name) in arrival order
        self.keepalives_sent = 0
        self.keepalive_acks = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> ReaderSimulator:
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ReaderSimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
        """Wait until ``predicate()`` holds (checked whenever the simulator's state changes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("the simulated reader never reached the expected state")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def received_types(self, connection: int | None = None) -> list[str]:
        return [name for number, name in self.received if connection in (None, number)]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            if self._active is not None:
                await self._refuse(writer)
                return
            self.connections += 1
            session = _Session(self, reader, writer, self.connections)
            self._active = session
            try:
                await session.run()
            finally:
                self._active = None
        finally:
            self._sessions.discard(task)
            self._notify()

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        self.refused += 1
        status = llrp.ConnectionAttemptStatusType.Failed_A_Client_Initiated_Connection_Already_Exists
        with contextlib.suppress(ConnectionError):
            writer.write(encode(reader_event(self._new_id(), status)))
            await writer.drain()
        writer.close()

    def window_reads(self, plan: rospec.RoSpecPlan, start_us: int, end_us: int) -> list[TagRead]:
        """The reads of the next report: tags seen between ``start_us`` and ``end_us``."""
        rng = np.random.default_rng([self.seed, self._report_index])
        self._report_index += 1
        antennas = [a for a in plan.antenna_ids if 1 <= a <= self.antennas]
        if 0 in plan.antenna_ids or not antennas:
            antennas = list(range(1, self.antennas + 1))
        span_us = max(end_us - start_us, 1)
        rounds = max(1, round(span_us / 1e6 * self.rounds_per_s))
        reads = []
        for tag in self.tags:
            if rng.random() >= tag.read_probability:
                continue
            heard_by = rng.choice(
                antennas, size=min(len(antennas), 1 + int(rng.random() < 0.35)), replace=False
            )
            for antenna in heard_by:
                first = start_us + int(rng.integers(0, span_us))
                last = first + int(rng.integers(0, end_us - first + 1))
                seen = 1 + int(rng.binomial(rounds - 1, 0.6))
                reads.append(
                    TagRead(tag.epc_hex, int(antenna), int(rng.integers(-80, -30)), first, last, seen)
                )
        reads.sort(key=lambda read: (read.first_seen_us or 0, read.epc_hex))
        return [_only(read, plan.content) for read in reads]


def _only(read: TagRead, content: frozenset[str]) -> TagRead:
    """The read with only the fields the TagReportContentSelector enabled."""
    return replace(
        read,
        antenna_id=read.antenna_id if "EnableAntennaID" in content else None,
        peak_rssi_dbm=read.peak_rssi_dbm if "EnablePeakRSSI" in content else None,
        first_seen_us=read.first_seen_us if "EnableFirstSeenTimestamp" in content else None,
        last_seen_us=read.last_seen_us if "EnableLastSeenTimestamp" in content else None,
        seen_count=read.seen_count if "EnableTagSeenCount" in content else None,
    )


def reader_event(message_id: int, status: int) -> Message:
    """READER_EVENT_NOTIFICATION with a ConnectionAttemptEvent, as a reader sends on connect."""
    return llrp.READER_EVENT_NOTIFICATION_Message(
        MessageID=message_id,
        Parameters=[
            llrp.ReaderEventNotificationData_Parameter(
                Parameters=[
                    llrp.UTCTimestamp_Parameter(Microseconds=now_us()),
                    llrp.ConnectionAttemptEvent_Parameter(Status=status),
                ]
            )
        ],
    )


class _RequestError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class _Session:
    """One client connection to the simulated reader."""

    reader_sim: ReaderSimulator
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    number: int
    rospecs: dict[int, _RoSpec] = field(default_factory=dict)
    keepalive_task: asyncio.Task[None] | None = None
    reports_sent: int = 0
    closing: bool = False

    async def run(self) -> None:
        try:
            await self._send(
                reader_event(self.reader_sim._new_id(), llrp.ConnectionAttemptStatusType.Success)
            )
            while not self.closing:
                header, data = await read_message(self.reader)
                name = _type_name(header.message_type)
                self.reader_sim.received.append((self.number, name))
                self.reader_sim._notify()
                await self._handle(header.message_type, header.message_id, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("simulated reader: client %d went away", self.number)
        except LlrpProtocolError as error:
            with contextlib.suppress(ConnectionError):
                await self._send(error_message(0, StatusCode.M_UNSUPPORTED_VERSION, str(error)))
        finally:
            await self._halt()
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def _handle(self, message_type: int, message_id: int, data: bytes) -> None:
        if message_type == MessageType.KEEPALIVE_ACK:
            self.reader_sim.keepalive_acks += 1
            self.reader_sim._notify()
            return
        handler = _HANDLERS.get(message_type)
        if handler is None:
            await self._send(
                error_message(message_id, StatusCode.M_UNSUPPORTED_MESSAGE, "unsupported message")
            )
            return
        try:
            answer = await handler(self, decode(data))
        except _RequestError as error:
            answer = response(message_type, message_id, error.code, error.description)
        except LlrpProtocolError as error:
            answer = error_message(message_id, StatusCode.M_FIELD_ERROR, str(error))
        if answer is not None:
            answer.MessageID = message_id
            await self._send(answer)

    async def _send(self, message: Message) -> None:
        self.writer.write(encode(message))
        await self.writer.drain()

    # ------------------------------------------------------------------ requests

    async def _capabilities(self, request: Message) -> Message:
        antennas = self.reader_sim.antennas
        general = llrp.GeneralDeviceCapabilities_Parameter(
            MaxNumberOfAntennaSupported=antennas,
            CanSetAntennaProperties=False,
            HasUTCClockCapability=True,
            DeviceManufacturerName=0,
            ModelName=1,
            ReaderFirmwareVersion="smartcustoms reader simulator 1.0",
            Parameters=[
                llrp.ReceiveSensitivityTableEntry_Parameter(Index=1, ReceiveSensitivityValue=0),
                llrp.GPIOCapabilities_Parameter(NumGPIs=0, NumGPOs=0),
                *(
                    llrp.PerAntennaAirProtocol_Parameter(
                        AntennaID=a, ProtocolID=[llrp.AirProtocols.EPCGlobalClass1Gen2]
                    )
                    for a in range(1, antennas + 1)
                ),
            ],
        )
        answer = response(MessageType.GET_READER_CAPABILITIES, 0)
        answer.Parameters.append(general)
        return answer

    async def _set_config(self, request: Message) -> Message:
        spec = request.getFirstParameterByClass(llrp.KeepaliveSpec_Parameter)
        if spec is not None:
            self._cancel(self.keepalive_task)
            interval_ms = int(spec.PeriodicTriggerValue)
            if spec.KeepaliveTriggerType == llrp.KeepaliveTriggerType.Periodic and interval_ms > 0:
                self.keepalive_task = asyncio.create_task(self._keepalives(interval_ms / 1000))
        return response(MessageType.SET_READER_CONFIG, 0)

    async def _add(self, request: Message) -> Message:
        parameter = request.getFirstParameterByClass(llrp.ROSpec_Parameter)
        try:
            plan = rospec.plan_of(parameter)
        except ValueError as error:
            raise _RequestError(StatusCode.P_FIELD_ERROR, str(error)) from None
        if plan.rospec_id == 0:
            raise _RequestError(StatusCode.P_FIELD_ERROR, "ROSpecID 0 is reserved")
        if plan.current_state != DISABLED:
            raise _RequestError(StatusCode.P_FIELD_ERROR, "an ROSpec must be added in the Disabled state")
        if plan.rospec_id in self.rospecs:
            raise _RequestError(StatusCode.P_FIELD_ERROR, f"ROSpec {plan.rospec_id} exists")
        self.rospecs[plan.rospec_id] = _RoSpec(plan)
        return response(MessageType.ADD_ROSPEC, 0)

    async def _delete(self, request: Message) -> Message:
        for spec in self._selected(request, allow_all=True):
            self._cancel(spec.task)
            del self.rospecs[spec.plan.rospec_id]
        return response(MessageType.DELETE_ROSPEC, 0)

    async def _enable(self, request: Message) -> Message:
        for spec in self._selected(request, allow_all=True):
            if spec.state == DISABLED:
                spec.state = INACTIVE
                if spec.plan.start_trigger == 1:  # Immediate
                    self._activate(spec)
                elif spec.plan.start_trigger == 2:  # Periodic
                    spec.task = asyncio.create_task(self._periodic(spec))
        return response(MessageType.ENABLE_ROSPEC, 0)

    async def _disable(self, request: Message) -> Message:
        for spec in self._selected(request, allow_all=True):
            await self._end(spec, report=True)
            self._cancel(spec.task)
            spec.state = DISABLED
        return response(MessageType.DISABLE_ROSPEC, 0)

    async def _start(self, request: Message) -> Message:
        (spec,) = self._selected(request, allow_all=False)
        if spec.state == DISABLED:
            raise _RequestError(StatusCode.P_FIELD_ERROR, f"ROSpec {spec.plan.rospec_id} is not enabled")
        if spec.state == ACTIVE:
            raise _RequestError(StatusCode.P_FIELD_ERROR, f"ROSpec {spec.plan.rospec_id} is already active")
        self._activate(spec)
        return response(MessageType.START_ROSPEC, 0)

    async def _stop(self, request: Message) -> Message:
        (spec,) = self._selected(request, allow_all=False)
        self._cancel(spec.task)
        await self._end(spec, report=True)
        return response(MessageType.STOP_ROSPEC, 0)

    async def _get_report(self, request: Message) -> None:
        for spec in self.rospecs.values():
            if spec.state == ACTIVE:
                await self._report(spec)

    async def _close(self, request: Message) -> Message:
        self.closing = True
        await self._halt()
        return response(MessageType.CLOSE_CONNECTION, 0)

    async def _nothing(self, request: Message) -> None:
        return None

    def _selected(self, request: Message, *, allow_all: bool) -> list[_RoSpec]:
        rospec_id = int(request.ROSpecID)
        if rospec_id == 0:
            if not allow_all:
                raise _RequestError(StatusCode.P_FIELD_ERROR, "ROSpecID 0 is not allowed here")
            return list(self.rospecs.values())
        if rospec_id not in self.rospecs:
            raise _RequestError(StatusCode.P_FIELD_ERROR, f"no ROSpec {rospec_id}")
        return [self.rospecs[rospec_id]]

    # ------------------------------------------------------------------ running ROSpecs

    def _activate(self, spec: _RoSpec) -> None:
        spec.state, spec.window_start_us = ACTIVE, now_us()
        if spec.plan.ai_duration_ms and spec.plan.start_trigger != 2:
            spec.task = asyncio.create_task(self._run_for(spec, spec.plan.ai_duration_ms / 1000))

    async def _run_for(self, spec: _RoSpec, duration_s: float) -> None:
        await asyncio.sleep(duration_s)
        await self._end(spec, report=True)

    async def _periodic(self, spec: _RoSpec) -> None:
        loop = asyncio.get_running_loop()
        period_s = spec.plan.period_ms / 1000
        while True:
            started_s = loop.time()
            self._activate(spec)
            if not spec.plan.ai_duration_ms:
                return  # runs until stopped
            await asyncio.sleep(spec.plan.ai_duration_ms / 1000)
            await self._end(spec, report=True)
            if period_s <= 0:
                return
            await asyncio.sleep(max(0.0, started_s + period_s - loop.time()))

    async def _end(self, spec: _RoSpec, *, report: bool) -> None:
        """The AISpec (and so the ROSpec) ends: report if the ROReportSpec asks for it."""
        if spec.state != ACTIVE:
            return
        spec.state = INACTIVE
        if report and spec.plan.report_trigger in (1, 2):
            await self._report(spec)

    async def _report(self, spec: _RoSpec) -> None:
        end_us = now_us()
        reads = self.reader_sim.window_reads(spec.plan, spec.window_start_us, end_us)
        spec.window_start_us = end_us
        n = spec.plan.report_n or max(len(reads), 1)
        for start in range(0, max(len(reads), 1), n):
            await self._send_report(tuple(reads[start : start + n]))

    async def _send_report(self, reads: tuple[TagRead, ...]) -> None:
        sim = self.reader_sim
        message_id = sim._new_id()
        report = llrp.RO_ACCESS_REPORT_Message(
            MessageID=message_id, Parameters=[tag_report_data(r) for r in reads]
        )
        await self._send(report)
        sim.sent_reports.append(SentReport(self.number, message_id, reads))
        self.reports_sent += 1
        sim._notify()
        if sim.drop_after_reports is not None and self.reports_sent >= sim.drop_after_reports:
            sim.drop_after_reports = None
            log.info("simulated reader: dropping connection %d", self.number)
            self.closing = True
            self.writer.close()  # the client sees the connection end without CLOSE_CONNECTION

    async def _keepalives(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self._send(llrp.KEEPALIVE_Message(MessageID=self.reader_sim._new_id()))
            self.reader_sim.keepalives_sent += 1

    async def _halt(self) -> None:
        """Stop every ROSpec and the keepalives (connection closing): no more messages from us."""
        current = asyncio.current_task()
        for task in [self.keepalive_task, *(spec.task for spec in self.rospecs.values())]:
            if task is not None and task is not current:
                self._cancel(task)
        for spec in self.rospecs.values():
            spec.state = min(spec.state, INACTIVE)

    @staticmethod
    def _cancel(task: asyncio.Task[None] | None) -> None:
        if task is not None and task is not asyncio.current_task():
            task.cancel()


_HANDLERS: dict[int, Callable[[_Session, Message], Awaitable[Message | None]]] = {
    MessageType.GET_READER_CAPABILITIES: _Session._capabilities,
    MessageType.SET_READER_CONFIG: _Session._set_config,
    MessageType.ADD_ROSPEC: _Session._add,
    MessageType.DELETE_ROSPEC: _Session._delete,
    MessageType.ENABLE_ROSPEC: _Session._enable,
    MessageType.DISABLE_ROSPEC: _Session._disable,
    MessageType.START_ROSPEC: _Session._start,
    MessageType.STOP_ROSPEC: _Session._stop,
    MessageType.GET_REPORT: _Session._get_report,
    MessageType.CLOSE_CONNECTION: _Session._close,
    MessageType.ENABLE_EVENTS_AND_REPORTS: _Session._nothing,
}


def _type_name(message_type: int) -> str:
    try:
        return MessageType(message_type).name
    except ValueError:
        return f"TYPE_{message_type}"


class SimulatorThread:
    """Run a ``ReaderSimulator`` on an event loop of its own thread (for code that calls asyncio.run)."""

    def __init__(self, simulator: ReaderSimulator, timeout_s: float = 10.0) -> None:
        self.simulator = simulator
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llrp-simulator", daemon=True)

    def __enter__(self) -> ReaderSimulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.simulator.start(), self._loop).result(self.timeout_s)
        return self.simulator

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.simulator.stop(), self._loop).result(self.timeout_s)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self.timeout_s)
            self._loop.close()
