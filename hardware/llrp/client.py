"""An LLRP 1.0.1 client: one TCP connection to a reader, and the conversation that gets tag reports.

``LlrpConnection`` frames messages, matches each response to its request by message id, answers the
reader's KEEPALIVEs with KEEPALIVE_ACK and queues everything else (reports, events) in arrival order.
``LlrpReader`` holds the conversation:

    connect -> READER_EVENT_NOTIFICATION (ConnectionAttemptEvent Success)
    GET_READER_CAPABILITIES -> SET_READER_CONFIG (KeepaliveSpec) -> DELETE_ROSPEC 0 (all)
    ADD_ROSPEC -> ENABLE_ROSPEC -> START_ROSPEC (continuous mode)
    ... RO_ACCESS_REPORT (GET_REPORT every interval in continuous mode), KEEPALIVE / KEEPALIVE_ACK ...
    STOP_ROSPEC -> CLOSE_CONNECTION

Reports that arrive while it stops are kept (``drain``), so the reads of the last inventory are not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from smartcustoms.hardware.llrp import rospec
from smartcustoms.hardware.llrp.codec import (
    DEFAULT_PORT,
    LlrpProtocolError,
    LlrpStatusError,
    Message,
    MessageType,
    StatusCode,
    TagRead,
    decode,
    encode,
    llrp,
    read_message,
    status_of,
    tag_reads,
)

log = logging.getLogger(__name__)

RESPONSE_TYPES = frozenset(t for t in MessageType if t.name.endswith("_RESPONSE")) | {
    MessageType.ERROR_MESSAGE
}
_CLOSED = object()


class LlrpConnectionLost(ConnectionError):
    """The reader closed the connection, stopped answering, or refused it."""


def parse_address(address: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """'host:port', 'host' or '[v6 address]:port' as (host, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, ""
    if not host or (port and not port.isdigit()):
        raise ValueError(f"not a host:port address: {address!r}")
    return host, int(port) if port else default_port


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Report:
    """One RO_ACCESS_REPORT as received."""

    message_id: int
    reads: list[TagRead]
    received_us: int


class LlrpConnection:
    """One client connection; ``open`` returns after the reader accepted it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response_timeout_s: float
    ) -> None:
        self._reader, self._writer = reader, writer
        self.response_timeout_s = response_timeout_s
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._read_task: asyncio.Task[None] | None = None
        self.lost: Exception | None = None
        self.last_heard_s = time.monotonic()
        self.keepalives_acked = 0
        self.uptime_offset_us = 0  # UTC minus the reader's uptime, for readers without a UTC clock

    @classmethod
    async def open(
        cls, host: str, port: int, *, connect_timeout_s: float = 5.0, response_timeout_s: float = 5.0
    ) -> LlrpConnection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout_s)
        connection = cls(reader, writer, response_timeout_s)
        try:
            _, data = await asyncio.wait_for(read_message(reader), connect_timeout_s)
            connection._accept(decode(data))
        except BaseException:
            await connection.close()
            raise
        connection._read_task = asyncio.create_task(connection._read_loop(), name=f"llrp-read-{host}:{port}")
        return connection

    def _accept(self, event: Message) -> None:
        """Check the reader's first message: a READER_EVENT_NOTIFICATION accepting the connection."""
        if not isinstance(event, llrp.READER_EVENT_NOTIFICATION_Message):
            raise LlrpProtocolError(f"expected READER_EVENT_NOTIFICATION, got {type(event).__name__}")
        attempt = event.getFirstParameterByClass(llrp.ConnectionAttemptEvent_Parameter)
        if attempt is None or attempt.Status != llrp.ConnectionAttemptStatusType.Success:
            status = (
                "missing" if attempt is None else llrp.ConnectionAttemptStatusType.getName(attempt.Status)
            )
            raise LlrpConnectionLost(f"reader refused the connection: {status}")
        uptime = event.getFirstParameterByClass(llrp.Uptime_Parameter)
        if uptime is not None:
            self.uptime_offset_us = now_us() - int(uptime.Microseconds)

    async def transact(self, message: Message) -> Message:
        """Send a request and return its response; LlrpStatusError unless the status is success."""
        self._raise_if_lost()
        message_id = self._new_id()
        message.MessageID = message_id
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        try:
            await self.send(message)
            answer = await asyncio.wait_for(future, self.response_timeout_s)
        except TimeoutError:
            raise LlrpConnectionLost(
                f"no answer to {type(message).__name__} in {self.response_timeout_s} s"
            ) from None
        finally:
            self._pending.pop(message_id, None)
        code, description = status_of(answer)
        if code != StatusCode.M_SUCCESS:
            raise LlrpStatusError(type(message).__name__.removesuffix("_Message"), code, description)
        return answer

    async def send(self, message: Message) -> None:
        """Send a message that has no response (KEEPALIVE_ACK, GET_REPORT, ...)."""
        if message.MessageID is None:
            message.MessageID = self._new_id()
        self._writer.write(encode(message))
        await self._writer.drain()

    async def next_message(self, timeout_s: float) -> Message | None:
        """The next report or event in arrival order; None after ``timeout_s`` without one."""
        try:
            item = await asyncio.wait_for(self._inbox.get(), timeout_s)
        except TimeoutError:
            self._raise_if_lost()
            return None
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)  # keep answering 'closed'
            self._raise_if_lost()
            raise LlrpConnectionLost("connection closed")
        return item

    def pending_messages(self) -> list[Message]:
        """Reports and events received but not yet taken."""
        items = []
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if item is not _CLOSED:
                items.append(item)
        return items

    async def close(self) -> None:
        if self._read_task is not None:
            self._read_task.cancel()
            await asyncio.gather(self._read_task, return_exceptions=True)
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    def _new_id(self) -> int:
        self._next_id = self._next_id % (2**32 - 1) + 1
        return self._next_id

    def _raise_if_lost(self) -> None:
        if self.lost is not None:
            raise LlrpConnectionLost(str(self.lost)) from self.lost

    async def _read_loop(self) -> None:
        try:
            while True:
                header, data = await read_message(self._reader)
                self.last_heard_s = time.monotonic()
                await self._dispatch(header.message_type, header.message_id, data)
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError, LlrpProtocolError) as error:
            self.lost = (
                error
                if not isinstance(error, asyncio.IncompleteReadError)
                else LlrpConnectionLost("the reader closed the connection")
            )
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LlrpConnectionLost(f"connection lost: {self.lost}"))
            self._inbox.put_nowait(_CLOSED)

    async def _dispatch(self, message_type: int, message_id: int, data: bytes) -> None:
        if message_type == MessageType.KEEPALIVE:
            await self.send(llrp.KEEPALIVE_ACK_Message(MessageID=message_id))
            self.keepalives_acked += 1
            return
        message = decode(data)
        future = self._pending.get(message_id) if message_type in RESPONSE_TYPES else None
        if future is not None and not future.done():
            future.set_result(message)
        elif message_type == MessageType.ERROR_MESSAGE:
            log.warning("reader error: %s", status_of(message))
        else:
            self._inbox.put_nowait(message)


@dataclass
class ReaderInfo:
    """What GET_READER_CAPABILITIES told us."""

    antennas: int = 0
    utc_clock: bool = True
    firmware: str = ""


class LlrpReader:
    """The conversation with one reader: ``start``, iterate ``reports``, ``stop``."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        spec: rospec.InventorySpec | None = None,
        *,
        connect_timeout_s: float = 5.0,
        response_timeout_s: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self.spec = spec or rospec.InventorySpec()
        self.connect_timeout_s = connect_timeout_s
        self.response_timeout_s = response_timeout_s
        self.connection: LlrpConnection | None = None
        self.info = ReaderInfo()

    @property
    def silence_limit_s(self) -> float:
        """How long the reader may stay silent before the connection counts as dead: it sends a report
        every interval (answering GET_REPORT, or at each periodic AISpec's end) and its keepalives."""
        heard_every_ms = max(self.spec.keepalive_interval_ms, self.spec.report_interval_ms)
        return 3 * heard_every_ms / 1000 + self.response_timeout_s

    async def start(self) -> None:
        self.connection = await LlrpConnection.open(
            self.host,
            self.port,
            connect_timeout_s=self.connect_timeout_s,
            response_timeout_s=self.response_timeout_s,
        )
        connection, spec = self.connection, self.spec
        try:
            await self._read_capabilities(connection)
            await connection.transact(rospec.keepalive_config(spec.keepalive_interval_ms, 0))
            await connection.transact(llrp.DELETE_ROSPEC_Message(ROSpecID=0))  # 0: every ROSpec
            await connection.transact(rospec.add_rospec(spec, 0))
            await connection.transact(llrp.ENABLE_ROSPEC_Message(ROSpecID=spec.rospec_id))
            if spec.continuous:  # a Periodic start trigger starts it on its own
                await connection.transact(llrp.START_ROSPEC_Message(ROSpecID=spec.rospec_id))
        except BaseException:
            await connection.close()
            self.connection = None
            raise

    async def _read_capabilities(self, connection: LlrpConnection) -> None:
        """GET_READER_CAPABILITIES: informative only, so a reader that refuses it is still used."""
        request = llrp.GET_READER_CAPABILITIES_Message(
            RequestedData=llrp.GetReaderCapabilitiesRequestedData.All
        )
        try:
            self.info = _reader_info(await connection.transact(request))
        except LlrpStatusError as error:
            log.info("reader %s:%d gave no capabilities: %s", self.host, self.port, error)

    async def reports(self, stop: asyncio.Event | None = None) -> AsyncIterator[Report]:
        """Reports as they arrive until ``stop`` is set; LlrpConnectionLost when the reader goes away."""
        connection = self._connection()
        interval_s = self.spec.report_interval_ms / 1000
        next_get_report_s = time.monotonic() + interval_s
        while stop is None or not stop.is_set():
            now_s = time.monotonic()
            if self.spec.continuous and now_s >= next_get_report_s:
                await connection.send(llrp.GET_REPORT_Message())
                next_get_report_s = now_s + interval_s
            if now_s - connection.last_heard_s > self.silence_limit_s:
                raise LlrpConnectionLost(f"the reader has been silent for over {self.silence_limit_s:.1f} s")
            wait_s = min(max(next_get_report_s - now_s, 0.0), 0.25) if self.spec.continuous else 0.25
            message = await connection.next_message(wait_s)
            if message is not None:
                report = self._report_of(message)
                if report is not None:
                    yield report

    async def stop(self) -> list[Report]:
        """STOP_ROSPEC and CLOSE_CONNECTION (best effort), close; return the reports that came meanwhile."""
        connection, self.connection = self.connection, None
        if connection is None:
            return []
        try:
            if connection.lost is None:
                for request in (
                    llrp.STOP_ROSPEC_Message(ROSpecID=self.spec.rospec_id),
                    llrp.CLOSE_CONNECTION_Message(),
                ):
                    try:
                        await connection.transact(request)
                    except LlrpStatusError as error:  # e.g. a periodic ROSpec between two runs
                        log.info("while stopping: %s", error)
        except (LlrpConnectionLost, ConnectionError, OSError) as error:
            log.info("reader %s:%d went away while stopping: %s", self.host, self.port, error)
        finally:
            await connection.close()
        return [r for r in map(self._report_of, connection.pending_messages()) if r is not None]

    def _connection(self) -> LlrpConnection:
        if self.connection is None:
            raise RuntimeError("start() the reader first")
        return self.connection

    def _report_of(self, message: Message) -> Report | None:
        if isinstance(message, llrp.RO_ACCESS_REPORT_Message):
            offset = self.connection.uptime_offset_us if self.connection is not None else 0
            return Report(int(message.MessageID), tag_reads(message, offset), now_us())
        if isinstance(message, llrp.READER_EVENT_NOTIFICATION_Message):
            if message.getFirstParameterByClass(llrp.ConnectionCloseEvent_Parameter) is not None:
                raise LlrpConnectionLost("the reader is closing the connection")
            log.debug("reader event: %s", message)
        return None


def _reader_info(capabilities: Message) -> ReaderInfo:
    general = capabilities.getFirstParameterByClass(llrp.GeneralDeviceCapabilities_Parameter)
    if general is None:
        return ReaderInfo()
    return ReaderInfo(
        antennas=int(general.MaxNumberOfAntennaSupported),
        utc_clock=bool(general.HasUTCClockCapability),
        firmware=str(general.ReaderFirmwareVersion),
    )
