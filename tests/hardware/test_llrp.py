"""LLRP 1.0.1: the bytes on the wire, the adapter against a simulated reader, reports into the runtime."""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.epc import is_gs1_epc96
from smartcustoms.hardware import adapters_cli
from smartcustoms.hardware.llrp import rospec
from smartcustoms.hardware.llrp.adapter import (
    AdapterConfig,
    Backoff,
    LlrpAdapter,
    rfid_batch,
    run_to_gateway,
)
from smartcustoms.hardware.llrp.client import LlrpConnection, LlrpConnectionLost, parse_address
from smartcustoms.hardware.llrp.codec import (
    Header,
    LlrpProtocolError,
    LlrpStatusError,
    MessageType,
    StatusCode,
    TagRead,
    decode,
    encode,
    llrp,
    tag_reads,
    tag_report_data,
)
from smartcustoms.hardware.llrp.simulator import ReaderSimulator, SentReport, SimulatorThread, tag_population
from smartcustoms.hardware.sdk.retry import RetryPolicy
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.process import free_port
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import fake_gateway, restart_gateway
from smartcustoms.v1 import frame_pb2, ingest_pb2, results_pb2

SETUP = ["GET_READER_CAPABILITIES", "SET_READER_CONFIG", "DELETE_ROSPEC", "ADD_ROSPEC", "ENABLE_ROSPEC"]
FAST = Backoff(initial_s=0.01, max_s=0.05)


# --------------------------------------------------------------------------- the wire format


def test_a_known_message_header_byte_by_byte() -> None:
    # KEEPALIVE_ACK: version 1 in bits 10-12 and type 72 -> 0x0448; length 10 (header only); id 7
    keepalive_ack = bytes.fromhex("04480000000A00000007")
    assert Header.parse(keepalive_ack) == Header(version=1, message_type=72, length=10, message_id=7)
    assert Header(1, 72, 10, 7).pack() == keepalive_ack
    assert encode(llrp.KEEPALIVE_ACK_Message(MessageID=7)) == keepalive_ack
    assert type(decode(keepalive_ack)).__name__ == "KEEPALIVE_ACK_Message"
    # START_ROSPEC: type 22 -> 0x0416; 14 bytes; id 5; ROSpecID u32 = 1
    start = bytes.fromhex("04160000000E0000000500000001")
    assert encode(llrp.START_ROSPEC_Message(MessageID=5, ROSpecID=1)) == start
    assert (decode(start).MessageID, decode(start).ROSpecID) == (5, 1)


def test_message_type_numbers_are_those_of_the_llrp_definition() -> None:
    for message_type in MessageType:
        assert llrp._messageClassFromTypeCode[message_type.value].__name__ == f"{message_type.name}_Message"
    assert (MessageType.RO_ACCESS_REPORT, MessageType.KEEPALIVE, MessageType.READER_EVENT_NOTIFICATION) == (
        61,
        62,
        63,
    )


def _tv(type_number: int, fmt: str, value: object) -> bytes:
    return struct.pack(">B" + fmt, 0x80 | type_number, value)


def _tlv(type_number: int, body: bytes) -> bytes:
    return struct.pack(">HH", type_number, 4 + len(body)) + body


def test_a_hand_built_ro_access_report_decodes_and_encodes_to_the_same_bytes() -> None:
    sgtin = bytes.fromhex("3074257BF7194E4000001A85")
    first = _tlv(
        240,  # TagReportData
        _tv(13, "12s", sgtin)  # EPC-96
        + _tv(1, "H", 3)  # AntennaID
        + _tv(6, "b", -61)  # PeakRSSI
        + _tv(2, "Q", 1_735_689_600_123_456)  # FirstSeenTimestampUTC
        + _tv(4, "Q", 1_735_689_600_999_999)  # LastSeenTimestampUTC
        + _tv(8, "H", 12),  # TagSeenCount
    )
    long_epc = bytes.fromhex("AD0102030405060708090A0B0C0D0E0F")
    second = _tlv(240, _tlv(241, struct.pack(">H", 128) + long_epc))  # EPCData: bit count, then the bits
    body = first + second
    message = struct.pack(">HII", 1 << 10 | 61, 10 + len(body), 99) + body

    reads = tag_reads(decode(message))
    assert reads == [
        TagRead("3074257BF7194E4000001A85", 3, -61, 1_735_689_600_123_456, 1_735_689_600_999_999, 12),
        TagRead("AD0102030405060708090A0B0C0D0E0F"),
    ]
    rebuilt = llrp.RO_ACCESS_REPORT_Message(MessageID=99, Parameters=[tag_report_data(r) for r in reads])
    assert encode(rebuilt) == message


def test_uptime_timestamps_become_utc() -> None:
    item = llrp.TagReportData_Parameter(
        Parameters=[
            llrp.EPC_96_Parameter(EPC=int("3074257BF7194E4000001A85", 16)),
            llrp.FirstSeenTimestampUptime_Parameter(Microseconds=5_000),
            llrp.LastSeenTimestampUptime_Parameter(Microseconds=9_000),
        ]
    )
    report = decode(encode(llrp.RO_ACCESS_REPORT_Message(MessageID=1, Parameters=[item])))
    (read,) = tag_reads(report, uptime_offset_us=1_700_000_000_000_000)
    assert (read.first_seen_us, read.last_seen_us) == (1_700_000_000_005_000, 1_700_000_000_009_000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("0448000000"), "10 bytes"),
        (bytes.fromhex("08480000000A00000001"), "version 2"),
        (bytes.fromhex("04480000000400000001"), "length 4"),
        (bytes.fromhex("07FE0000000A00000001"), "unknown LLRP message type 1022"),
        (bytes.fromhex("0416000000120000000500000001"), "says 18 bytes, got 14"),
        (bytes.fromhex("043D0000000E0000000500F00008"), "malformed message type 61"),
    ],
)
def test_malformed_messages_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(LlrpProtocolError, match=reason):
        decode(data)


def test_the_rospec_the_adapter_asks_for() -> None:
    continuous = rospec.plan_of(decode(encode(rospec.add_rospec(rospec.InventorySpec(), 1))).Parameters[0])
    assert (continuous.rospec_id, continuous.current_state, continuous.start_trigger) == (1, 0, 0)
    assert (continuous.ai_duration_ms, continuous.antenna_ids, continuous.report_trigger) == (0, (0,), 1)
    assert continuous.content == frozenset(rospec.CONTENT_FIELDS)
    spec = rospec.InventorySpec(rospec_id=7, antenna_ids=(1, 2), report_interval_ms=250, mode="periodic")
    periodic = rospec.plan_of(decode(encode(rospec.add_rospec(spec, 2))).Parameters[0])
    assert (periodic.start_trigger, periodic.period_ms, periodic.ai_duration_ms) == (2, 250, 250)
    assert periodic.antenna_ids == (1, 2)
    with pytest.raises(ValueError, match="mode"):
        rospec.InventorySpec(mode="sometimes")


@pytest.mark.parametrize(
    ("address", "expected"),
    [("reader-7", ("reader-7", 5084)), ("10.0.0.5:5085", ("10.0.0.5", 5085)), ("[::1]:6000", ("::1", 6000))],
)
def test_reader_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected
    with pytest.raises(ValueError):
        parse_address("reader:port")


# --------------------------------------------------------------------------- adapter and simulated reader


@dataclass
class FakeSink:
    """Accepts every frame at once (the unit-test twin of IngestStream)."""

    frames: list[frame_pb2.Frame] = field(default_factory=list)

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        self.frames.append(frame)
        ack: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        ack.set_result(ingest_pb2.IngestAck(frame_id=frame.frame_id, code=0))
        return ack


def _config(reader: str, **inventory: object) -> AdapterConfig:
    spec = {"report_interval_ms": 40, "keepalive_interval_ms": 0, **inventory}
    return AdapterConfig(
        reader=reader,
        source_id="evidence-reader-1",
        zone="vault-a",
        max_reports=4,
        inventory=rospec.InventorySpec(**spec),  # type: ignore[arg-type]
        backoff=FAST,
    )


def _assert_frames_are_the_reports(frames: list[frame_pb2.Frame], sent: list[SentReport]) -> None:
    """One frame per report that had reads, in order, holding exactly its reads."""
    reports = [report for report in sent if report.reads]
    assert len(frames) == len(reports)
    for frame, report in zip(frames, reports, strict=True):
        assert (frame.modality, frame.encoding, frame.source_id) == (
            frame_pb2.MODALITY_RFID,
            "protobuf",
            "evidence-reader-1",
        )
        batch = frame_pb2.RfidReadBatch.FromString(frame.payload)
        assert batch == rfid_batch(list(report.reads), reader_id="evidence-reader-1", zone="vault-a")
        assert (frame.metadata["zone"], frame.metadata["read_count"]) == ("vault-a", str(len(report.reads)))
    assert [f.sequence for f in frames] == sorted({f.sequence for f in frames})


def test_each_report_becomes_one_frame_with_every_field() -> None:
    async def scenario() -> tuple[ReaderSimulator, FakeSink, object]:
        async with ReaderSimulator(tag_population(1), seed=1) as reader:
            sink = FakeSink()
            stats = await LlrpAdapter(_config(reader.address)).run(sink)
            return reader, sink, stats

    reader, sink, stats = asyncio.run(scenario())
    _assert_frames_are_the_reports(sink.frames, reader.sent_reports)
    assert stats.reports == stats.frames_accepted == len(sink.frames) >= 4  # type: ignore[attr-defined]
    received = reader.received_types()
    assert received[:6] == [*SETUP, "START_ROSPEC"]
    assert received[-2:] == ["STOP_ROSPEC", "CLOSE_CONNECTION"]
    assert set(received[6:-2]) == {"GET_REPORT"}
    read = frame_pb2.RfidReadBatch.FromString(sink.frames[0].payload).reads[0]
    assert read.antenna_id and read.rssi_dbm < 0 and read.seen_count >= 1
    assert read.first_seen.ToMicroseconds() <= read.last_seen.ToMicroseconds()


def test_periodic_inventories_report_at_the_end_of_each_run() -> None:
    async def scenario() -> tuple[ReaderSimulator, FakeSink]:
        async with ReaderSimulator(tag_population(2), seed=2) as reader:
            sink = FakeSink()
            await LlrpAdapter(_config(reader.address, mode="periodic")).run(sink)
            return reader, sink

    reader, sink = asyncio.run(scenario())
    _assert_frames_are_the_reports(sink.frames, reader.sent_reports)
    assert len(sink.frames) >= 4
    assert "START_ROSPEC" not in reader.received_types() and "GET_REPORT" not in reader.received_types()


def test_a_report_limit_splits_a_window_into_batches() -> None:
    async def scenario() -> tuple[ReaderSimulator, FakeSink]:
        async with ReaderSimulator(tag_population(3, count=12, foreign=0), seed=3) as reader:
            sink = FakeSink()
            await LlrpAdapter(_config(reader.address, max_reads_per_report=5)).run(sink)
            return reader, sink

    reader, sink = asyncio.run(scenario())
    _assert_frames_are_the_reports(sink.frames, reader.sent_reports)
    assert max(len(frame_pb2.RfidReadBatch.FromString(f.payload).reads) for f in sink.frames) == 5


def test_reader_keepalives_are_acknowledged() -> None:
    async def scenario() -> tuple[ReaderSimulator, FakeSink]:
        async with ReaderSimulator(tag_population(4), seed=4) as reader:
            sink, stop = FakeSink(), asyncio.Event()
            config = _config(reader.address, report_interval_ms=5000, keepalive_interval_ms=20)
            run = asyncio.create_task(LlrpAdapter(config).run(sink, stop))
            await reader.wait_until(lambda: reader.keepalive_acks >= 3)
            stop.set()
            await run
            return reader, sink

    reader, sink = asyncio.run(scenario())
    assert reader.keepalives_sent >= reader.keepalive_acks >= 3
    requests = [name for name in reader.received_types() if name != "KEEPALIVE_ACK"]
    assert requests == [
        *SETUP,
        "START_ROSPEC",
        "STOP_ROSPEC",
        "CLOSE_CONNECTION",
    ]  # 5 s interval: no GET_REPORT
    _assert_frames_are_the_reports(sink.frames, reader.sent_reports)  # the reads flushed by STOP_ROSPEC


def test_the_adapter_reconnects_when_the_reader_drops_the_connection() -> None:
    async def scenario() -> tuple[ReaderSimulator, FakeSink, object]:
        async with ReaderSimulator(tag_population(5), seed=5, drop_after_reports=2) as reader:
            sink = FakeSink()
            adapter = LlrpAdapter(_config(reader.address))
            stats = await adapter.run(sink)
            return reader, sink, stats

    reader, sink, stats = asyncio.run(scenario())
    assert (reader.connections, stats.connections, stats.reconnects) == (2, 2, 1)  # type: ignore[attr-defined]
    assert "closed the connection" in stats.last_error  # type: ignore[attr-defined]
    assert reader.received_types(connection=1)[-1] == "GET_REPORT"  # dropped: no STOP, no CLOSE
    assert reader.received_types(connection=2)[:6] == [*SETUP, "START_ROSPEC"]
    _assert_frames_are_the_reports(sink.frames, reader.sent_reports)


@dataclass(frozen=True)
class _SignallingBackoff(Backoff):
    failed: asyncio.Event = field(default_factory=asyncio.Event)

    def delay_s(self, attempt: int) -> float:
        self.failed.set()
        return 0.01


def test_the_adapter_waits_for_a_reader_that_is_not_there_yet() -> None:
    port = free_port()

    async def scenario() -> tuple[ReaderSimulator, FakeSink, object]:
        backoff = _SignallingBackoff()
        config = AdapterConfig(
            reader=f"127.0.0.1:{port}",
            source_id="evidence-reader-1",
            zone="vault-a",
            max_reports=2,
            inventory=rospec.InventorySpec(report_interval_ms=40, keepalive_interval_ms=0),
            backoff=backoff,
        )
        sink = FakeSink()
        run = asyncio.create_task(LlrpAdapter(config).run(sink))
        await asyncio.wait_for(backoff.failed.wait(), 10)  # the first attempt failed: nothing listens
        async with ReaderSimulator(tag_population(6), seed=6, port=port) as reader:
            stats = await asyncio.wait_for(run, 30)
        return reader, sink, stats

    reader, sink, stats = asyncio.run(scenario())
    assert stats.connections == 1 and "Connect" in stats.last_error  # type: ignore[attr-defined]
    _assert_frames_are_the_reports(sink.frames, reader.sent_reports)


def test_the_simulated_reader_answers_errors_as_a_reader_does() -> None:
    async def scenario() -> list[int]:
        codes = []
        async with ReaderSimulator(tag_population(7)) as reader:
            connection = await LlrpConnection.open("127.0.0.1", reader.port)
            with pytest.raises(LlrpConnectionLost, match="refused"):
                await LlrpConnection.open("127.0.0.1", reader.port)  # one client at a time
            active = rospec.add_rospec(rospec.InventorySpec(), 0)
            active.Parameters[0].CurrentState = llrp.ROSpecState.Active
            for request in (
                llrp.START_ROSPEC_Message(ROSpecID=9),  # no such ROSpec
                active,  # must be added Disabled
                llrp.START_ROSPEC_Message(ROSpecID=0),  # 0 is not allowed
                llrp.GET_ACCESSSPECS_Message(),  # not supported by this reader
            ):
                with pytest.raises(LlrpStatusError) as error:
                    await connection.transact(request)
                codes.append(error.value.code)
            await connection.transact(rospec.add_rospec(rospec.InventorySpec(), 0))
            with pytest.raises(LlrpStatusError, match="not enabled"):
                await connection.transact(llrp.START_ROSPEC_Message(ROSpecID=1))
            await connection.transact(llrp.CLOSE_CONNECTION_Message())
            await connection.close()
            assert reader.refused == 1
        return codes

    assert asyncio.run(scenario()) == [
        StatusCode.P_FIELD_ERROR,
        StatusCode.P_FIELD_ERROR,
        StatusCode.P_FIELD_ERROR,
        StatusCode.M_UNSUPPORTED_MESSAGE,
    ]


def test_tag_population_mixes_gs1_schemes_and_foreign_tags() -> None:
    tags = tag_population(8, count=9, foreign=3)
    headers = [tag.epc_hex[:2] for tag in tags]
    assert headers[:9] == ["30", "33", "34"] * 3
    assert [is_gs1_epc96(tag.epc_hex) for tag in tags] == [True] * 9 + [False] * 3
    assert [len(tag.epc_hex) for tag in tags[9:]] == [24, 32, 24]


# --------------------------------------------------------------------------- the CLI


def _parse(argv: list[str]) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="smartcustoms")
    commands = top.add_subparsers(dest="command", required=True)
    adapters_cli.add_parser(commands)
    return top.parse_args(argv)


def test_the_llrp_command_streams_a_bounded_number_of_reports(capsys: pytest.CaptureFixture[str]) -> None:
    simulator = ReaderSimulator(tag_population(9), seed=9)
    with fake_gateway() as (gateway, servicer), SimulatorThread(simulator) as reader:
        source = ["--source-id", "evidence-reader-1", "--zone", "vault-a"]
        bounds = ["--reports", "3", "--report-interval-ms", "40", "--keepalive-ms", "0"]
        args = _parse(["llrp", "--reader", reader.address, "--gateway", gateway, *source, *bounds])
        assert args.handler(args) == 0
    _assert_frames_are_the_reports(servicer.frames, reader.sent_reports)
    assert len(servicer.frames) >= 3
    assert f"{len(servicer.frames)} frames accepted, 0 rejected" in capsys.readouterr().out


def test_the_llrp_sim_command_serves_until_its_duration_ends(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["llrp-sim", "--port", "0", "--tags", "3", "--duration-s", "0"])
    assert args.handler(args) == 0
    first_line, summary = capsys.readouterr().out.splitlines()
    assert first_line.startswith("simulated LLRP reader on 127.0.0.1:") and first_line.endswith("with 5 tags")
    assert summary == "0 connections, 0 reports sent"


def test_bad_llrp_arguments_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["llrp", "--reader", "r:1", "--gateway", "g:2", "--source-id", "s", "--zone", "z"])
    args.report_interval_ms = 0
    assert args.handler(args) == 2
    assert "report_interval_ms must be positive" in capsys.readouterr().err


# --------------------------------------------------------------------------- through the runtime


async def _settled_verdicts(
    config: Config, frame_ids: list[str], timeout_s: float = 60.0
) -> dict[str, results_pb2.Verdict]:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            counts = await ledger.counts()
            if counts.accepted >= len(frame_ids) and counts.in_flight == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"frames still in flight: {counts}")
            await asyncio.sleep(0.05)
        found = {frame_id: await ledger.verdict(frame_id) for frame_id in frame_ids}
    finally:
        await client.aclose()
    assert all(verdict is not None for verdict in found.values())
    return {k: v for k, v in found.items() if v is not None}


@pytest.mark.integration
def test_reader_reports_become_accepted_frames_with_verdicts(
    runtime_config: Config, start_stack: Callable[[Config], Stack]
) -> None:
    # The tag check's verdicts alone: the evidence store would also alarm on these unregistered tags.
    runtime_config.plugins = {"evidence_locator": PluginConfig(enabled=False)}
    stack = start_stack(runtime_config)
    acked: list[tuple[frame_pb2.Frame, ingest_pb2.IngestAck]] = []

    async def scenario() -> tuple[ReaderSimulator, object]:
        tags = tag_population(25, count=9, foreign=2)  # seed 25: reports with and without foreign tags
        async with ReaderSimulator(tags, seed=25, drop_after_reports=3) as reader:
            config = AdapterConfig(
                reader=reader.address,
                source_id="evidence-reader-1",
                zone="vault-a",
                max_reports=6,
                inventory=rospec.InventorySpec(report_interval_ms=100, keepalive_interval_ms=100),
                backoff=FAST,
            )
            stats = await run_to_gateway(
                config, stack.gateway_target, on_frame=lambda f, a: acked.append((f, a))
            )
            return reader, stats

    reader, stats = asyncio.run(scenario())
    assert stats.reconnects == 1 and stats.frames_rejected == 0  # type: ignore[attr-defined]
    frames = [frame for frame, _ in acked]
    _assert_frames_are_the_reports(frames, reader.sent_reports)
    assert all(ack.code == 0 and not ack.duplicate for _, ack in acked)

    verdicts = asyncio.run(_settled_verdicts(runtime_config, [f.frame_id for f in frames]))
    reports = [report for report in reader.sent_reports if report.reads]
    decisions = []
    for frame, report in zip(frames, reports, strict=True):
        verdict = verdicts[frame.frame_id]
        foreign = {read.epc_hex for read in report.reads if not is_gs1_epc96(read.epc_hex)}
        (check,) = [result for result in verdict.results if result.plugin == "rfid_epc_check"]
        assert {d.attributes["epc"] for d in check.detections} == foreign
        assert {d.label for d in check.detections} <= {"foreign_tag"}
        expected = results_pb2.DECISION_ALARM if foreign else results_pb2.DECISION_CLEAR
        assert verdict.decision == expected
        decisions.append(verdict.decision)
    assert set(decisions) == {results_pb2.DECISION_ALARM, results_pb2.DECISION_CLEAR}
    assert len(verdicts) == len(frames) >= 6


@pytest.mark.integration
def test_a_gateway_killed_mid_stream_costs_no_report_and_no_duplicate(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.gateway.stop_grace_s = 1.0
    stack = start_stack(runtime_config, worker=False)
    acked: list[tuple[frame_pb2.Frame, ingest_pb2.IngestAck]] = []

    async def scenario() -> tuple[ReaderSimulator, object]:
        async with ReaderSimulator(tag_population(26, count=9, foreign=2), seed=26) as reader:
            config = AdapterConfig(
                reader=reader.address,
                source_id="evidence-reader-1",
                zone="vault-a",
                max_reports=16,
                inventory=rospec.InventorySpec(report_interval_ms=100, keepalive_interval_ms=100),
                backoff=FAST,
            )
            adapter = asyncio.create_task(
                run_to_gateway(
                    config,
                    stack.gateway_target,
                    on_frame=lambda f, a: acked.append((f, a)),
                    retry=RetryPolicy(initial_backoff_s=0.05, max_backoff_s=0.5),
                )
            )
            deadline = time.monotonic() + 30
            while len(acked) < 4:  # some reports answered by the first gateway
                assert time.monotonic() < deadline and not adapter.done(), "no acks from the first gateway"
                await asyncio.sleep(0.02)
            await asyncio.to_thread(restart_gateway, stack, kill=True)
            stats = await asyncio.wait_for(adapter, 120)
            return reader, stats

    reader, stats = asyncio.run(scenario())
    assert stats.frames_rejected == 0  # type: ignore[attr-defined]
    assert all(ack.code == 0 for _, ack in acked)
    frames = sorted((frame for frame, _ in acked), key=lambda f: f.sequence)
    _assert_frames_are_the_reports(frames, reader.sent_reports)  # every report exactly once
    client = aioredis.Redis.from_url(runtime_config.redis.url)

    async def accepted() -> int:
        try:
            return (await ledger_for(runtime_config, client).counts()).accepted
        finally:
            await client.aclose()

    assert asyncio.run(accepted()) == len(frames) >= 16  # the ledger holds each frame once
