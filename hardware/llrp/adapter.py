"""The LLRP adapter: every RO_ACCESS_REPORT of a reader becomes one RFID frame at the ingest gateway.

One report is one frame (a batch of tag reads, never one message per tag): its payload is an
``RfidReadBatch`` with the reader id and zone from the configuration and, per TagReportData, the EPC
(hex), antenna, peak RSSI, first and last seen times (UTC microseconds) and seen count. Frames go to
any ``FrameSink`` (the SDK's reconnecting ``VendorClient`` in ``run_to_gateway``; a fake in unit
tests). When the reader connection drops, the adapter reconnects with exponential backoff and sets the
ROSpec up again; when the gateway goes away, the client resends what it has not had answered.

Sequence numbers are the report's arrival time in microseconds, forced to increase, so a restarted
adapter continues above its previous numbers and (source_id, sequence) stays unique at the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.epc import is_gs1_epc96
from smartcustoms.hardware.llrp.client import LlrpConnectionLost, LlrpReader, Report, now_us, parse_address
from smartcustoms.hardware.llrp.codec import LlrpProtocolError, LlrpStatusError, TagRead
from smartcustoms.hardware.llrp.rospec import InventorySpec
from smartcustoms.hardware.sdk.retry import RetryPolicy
from smartcustoms.v1 import frame_pb2, ingest_pb2

log = logging.getLogger(__name__)

OK = 0  # google.rpc.Code OK, as in IngestAck.code


class FrameSink(Protocol):
    """Where frames go: the SDK's ``VendorClient`` and ``IngestStream`` have this ``send``."""

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]: ...


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnect attempts: initial_s, then times multiplier, at most max_s."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0

    def delay_s(self, attempt: int) -> float:
        return float(min(self.max_s, self.initial_s * self.multiplier ** max(attempt - 1, 0)))


@dataclass(frozen=True)
class AdapterConfig:
    reader: str  # "host:port" (port 5084 when omitted)
    source_id: str
    zone: str
    reader_id: str = ""  # defaults to source_id
    control_point: str = ""
    inventory: InventorySpec = field(default_factory=InventorySpec)
    backoff: Backoff = field(default_factory=Backoff)
    max_reports: int | None = None  # stop after this many non-empty reports
    connect_timeout_s: float = 5.0
    response_timeout_s: float = 5.0
    ack_timeout_s: float = 60.0  # how long the end of a run waits for outstanding acks


@dataclass
class AdapterStats:
    reports: int = 0  # non-empty reports turned into frames
    empty_reports: int = 0
    frames_accepted: int = 0
    frames_rejected: int = 0
    connections: int = 0
    reconnects: int = 0
    last_error: str = ""


class SequenceClock:
    """Increasing sequence numbers from the clock, in microseconds."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, now_us())
        return self._last


def rfid_batch(reads: list[TagRead], *, reader_id: str, zone: str) -> frame_pb2.RfidReadBatch:
    batch = frame_pb2.RfidReadBatch(reader_id=reader_id, zone=zone)
    for read in reads:
        item = batch.reads.add(
            epc_hex=read.epc_hex,
            antenna_id=read.antenna_id or 0,
            rssi_dbm=read.peak_rssi_dbm or 0,
            seen_count=read.seen_count or 0,
        )
        if read.first_seen_us is not None:
            item.first_seen.CopyFrom(_timestamp(read.first_seen_us))
        if read.last_seen_us is not None:
            item.last_seen.CopyFrom(_timestamp(read.last_seen_us))
    return batch


def report_frame(report: Report, config: AdapterConfig, sequence: int) -> frame_pb2.Frame:
    """The MODALITY_RFID frame of one report."""
    reader_id = config.reader_id or config.source_id
    payload = rfid_batch(report.reads, reader_id=reader_id, zone=config.zone).SerializeToString()
    gs1 = sum(is_gs1_epc96(read.epc_hex) for read in report.reads)
    frame = frame_pb2.Frame(
        frame_id=uuid.uuid4().hex,
        source_id=config.source_id,
        modality=frame_pb2.MODALITY_RFID,
        sequence=sequence,
        encoding="protobuf",
        control_point=config.control_point,
        metadata={
            "reader_id": reader_id,
            "zone": config.zone,
            "read_count": str(len(report.reads)),
            "gs1_epc96_reads": str(gs1),
            "other_reads": str(len(report.reads) - gs1),
            "llrp_reader": config.reader,
            "llrp_message_id": str(report.message_id),
            "rospec_id": str(config.inventory.rospec_id),
        },
        payload=payload,
        payload_bytes=len(payload),
    )
    frame.capture_time.CopyFrom(_timestamp(report.received_us))
    return frame


def _timestamp(microseconds: int) -> Timestamp:
    return Timestamp(seconds=microseconds // 1_000_000, nanos=(microseconds % 1_000_000) * 1000)


FrameCallback = Callable[[frame_pb2.Frame, ingest_pb2.IngestAck], None]


class LlrpAdapter:
    """Reader reports to frames, with reconnects, until ``stop`` is set or ``max_reports`` are sent."""

    def __init__(self, config: AdapterConfig, on_frame: FrameCallback | None = None) -> None:
        self.config = config
        self.on_frame = on_frame
        self.stats = AdapterStats()
        self._sequence = SequenceClock()
        self._acks: set[asyncio.Future[ingest_pb2.IngestAck]] = set()
        self._host, self._port = parse_address(config.reader)

    async def run(self, sink: FrameSink, stop: asyncio.Event | None = None) -> AdapterStats:
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set() and not self._done():
            reader = LlrpReader(
                self._host,
                self._port,
                self.config.inventory,
                connect_timeout_s=self.config.connect_timeout_s,
                response_timeout_s=self.config.response_timeout_s,
            )
            try:
                await self._session(reader, sink, stop)
                failures = 0
            except (LlrpConnectionLost, LlrpProtocolError, LlrpStatusError, OSError, TimeoutError) as error:
                failures += 1
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning("LLRP reader %s: %s", self.config.reader, self.stats.last_error)
                await self._pause(self.config.backoff.delay_s(failures), stop)
            finally:
                for report in await reader.stop():
                    await self._forward(report, sink)
        await self._settle_acks()
        return self.stats

    async def _session(self, reader: LlrpReader, sink: FrameSink, stop: asyncio.Event) -> None:
        await reader.start()
        self.stats.connections += 1
        self.stats.reconnects = self.stats.connections - 1
        log.info("LLRP reader %s: inventory started (%s)", self.config.reader, reader.info)
        async for report in reader.reports(stop):
            await self._forward(report, sink)
            if self._done():
                return

    async def _forward(self, report: Report, sink: FrameSink) -> None:
        if not report.reads:
            self.stats.empty_reports += 1
            return
        frame = report_frame(report, self.config, self._sequence.next())
        ack = await sink.send(frame)
        self.stats.reports += 1
        self._acks.add(ack)
        ack.add_done_callback(functools.partial(self._acked, frame))

    def _acked(self, frame: frame_pb2.Frame, done: asyncio.Future[ingest_pb2.IngestAck]) -> None:
        self._acks.discard(done)
        if done.cancelled() or done.exception() is not None:
            self.stats.frames_rejected += 1
            self.stats.last_error = f"no ack for frame {frame.frame_id}: {done.exception()!r}"
            return
        ack = done.result()
        if ack.code == OK:
            self.stats.frames_accepted += 1
        else:
            self.stats.frames_rejected += 1
            log.warning("frame %s rejected: %d %s", frame.frame_id, ack.code, ack.message)
        if self.on_frame is not None:
            self.on_frame(frame, ack)

    def _done(self) -> bool:
        return self.config.max_reports is not None and self.stats.reports >= self.config.max_reports

    async def _settle_acks(self) -> None:
        if self._acks:
            await asyncio.wait(set(self._acks), timeout=self.config.ack_timeout_s)

    @staticmethod
    async def _pause(delay_s: float, stop: asyncio.Event) -> None:
        """Wait ``delay_s`` or until ``stop`` is set, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)


async def run_to_gateway(
    config: AdapterConfig,
    gateway: str,
    stop: asyncio.Event | None = None,
    on_frame: FrameCallback | None = None,
    retry: RetryPolicy | None = None,
) -> AdapterStats:
    """Run an adapter whose frames go through the SDK's ``VendorClient`` to ``gateway``: a gateway that
    restarts or a connection that drops costs neither a report nor a duplicate (frames are resent with
    their sequence until answered; ``retry`` paces the reconnects)."""
    from smartcustoms.hardware.sdk.client import VendorClient

    started_s = time.monotonic()
    async with VendorClient(gateway, retry=retry) as client:
        stats = await LlrpAdapter(config, on_frame).run(client, stop)
    log.info("LLRP adapter ran %.1f s: %s", time.monotonic() - started_s, stats)
    return stats
