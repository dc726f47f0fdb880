"""``smartcustoms import``: customs data exports (CSV, Parquet) into the runtime as record frames.

    smartcustoms import declarations FILE --mapping MAP.toml [--gateway HOST:PORT] [--batch-size 500]
                                          [--source-id ID] [--rejects FILE] [--verbose]
    smartcustoms import crossings FILE --mapping MAP.toml ...   (vehicle_crossing)
    smartcustoms import records FILE --mapping MAP.toml ...     (whatever kind the mapping names)

The rows become records through the column mapping (``smartcustoms.core.records_csv``); every
``--batch-size`` records travel as one record frame (a RecordBatch, metadata ``record_kind``) through the
vendor SDK's reconnecting client, so a gateway restart midway loses and duplicates nothing. A row that
cannot become a record goes to the rejects file (line, id, reason, then the row as it was) and the rest
go on. One line sums up; a frame the gateway refused is reported in a line of its own.

Exit codes: 0 every frame accepted (rows may have been rejected: see the rejects file), 1 a frame was
refused or the gateway could not be reached, 2 bad input (file, mapping, kind).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc

from smartcustoms.core import config as config_module
from smartcustoms.core.config import GatewayConfig
from smartcustoms.core.records_csv import (
    CARGO_KIND,
    CROSSING_KIND,
    RecordReader,
    RecordsError,
    RowError,
    load_mapping,
    read_records,
)
from smartcustoms.runtime.tls import add_sender_arguments, sender_credentials
from smartcustoms.v1 import frame_pb2, ingest_pb2

# A frame is one alert for cargo_risk: 500 declarations give ~11 selections at its 2% budget. Bulk loads
# move ~3x faster end to end with --batch-size 4000 (~88 a frame; benchmarks/test_bench_risk.py).
DEFAULT_BATCH_SIZE = 500
CLOSE_TIMEOUT_S = 60.0  # after the last frame: how long the gateway gets to answer every frame
GIVE_UP_AFTER_ATTEMPTS = 8  # consecutive failed connections (6 to 11 s) before the import stops
_SUBCOMMANDS = {"declarations": CARGO_KIND, "crossings": CROSSING_KIND, "records": ""}
OK = grpc.StatusCode.OK.value[0]
_STATUS_NAMES = {status.value[0]: status.name for status in grpc.StatusCode}


class FrameSink(Protocol):
    """Where frames go: the SDK's ``VendorClient`` (a fake in unit tests)."""

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]: ...


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = commands.add_parser(
        "import",
        help="stream a CSV or Parquet export of records through the gateway, through a column mapping",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = top.add_subparsers(dest="what", required=True, metavar="WHAT")
    for name, kind in _SUBCOMMANDS.items():
        about = f"records of kind {kind}" if kind else "records of the kind the mapping names"
        sub = kinds.add_parser(name, help=f"{about} (docs/formats.md)")
        sub.add_argument("file", type=Path, metavar="FILE", help="CSV (UTF-8) or Parquet (.parquet, .pq)")
        sub.add_argument("--mapping", required=True, type=Path, metavar="MAP.toml", help="column mapping")
        sub.add_argument("--gateway", metavar="HOST:PORT", help="ingest gateway (default: the configured)")
        sub.add_argument(
            "--batch-size", type=_positive, default=DEFAULT_BATCH_SIZE, help="records per frame (%(default)s)"
        )
        sub.add_argument("--source-id", help="source id of the frames (default: import-<file stem>)")
        add_sender_arguments(sub)
        sub.add_argument(
            "--rejects", type=Path, metavar="FILE", help="rejects CSV (default: <file stem>.rejects.csv here)"
        )
        sub.add_argument("--verbose", action="store_true", help="a line per frame: id, lines, answer")
        sub.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.set_defaults(handler=cmd_import, expected_kind=kind)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


@dataclass(frozen=True)
class ImportPlan:
    source_id: str
    batch_size: int
    file_name: str  # in each frame's metadata (import_file), with the frame's lines (import_lines)
    verbose: bool = False  # a line per accepted frame too


@dataclass
class ImportStats:
    rows: int = 0  # data rows read (blank lines not counted)
    rejected: int = 0  # rows written to the rejects file
    frames: int = 0  # frames handed to the gateway
    records_sent: int = 0  # records in frames the gateway accepted
    refused: list[str] = field(default_factory=list)  # one line per refused frame


def cmd_import(args: argparse.Namespace) -> int:
    name = f"smartcustoms import {args.what}"
    rejects_path: Path = args.rejects or Path(f"{args.file.stem}.rejects.csv")
    with contextlib.ExitStack() as files:
        try:
            reader = files.enter_context(_open_input(args, name, rejects_path))
            rejects = csv.writer(files.enter_context(rejects_path.open("w", encoding="utf-8", newline="")))
        except (RecordsError, OSError) as error:
            print(f"{name}: {_one_line(error)}", file=sys.stderr)
            return 2
        rejects.writerow(["line", "id", "reason", *reader.columns])
        plan = ImportPlan(
            args.source_id or f"import-{args.file.stem}", args.batch_size, args.file.name, args.verbose
        )
        gateway = config_module.load(getattr(args, "config", None)).gateway
        try:
            credentials = sender_credentials(args, gateway)
        except (ValueError, OSError) as error:
            print(f"{name}: {_one_line(error)}", file=sys.stderr)
            return 2
        started_s = time.monotonic()
        stats, failure, code = asyncio.run(
            _run(reader, args.gateway or _configured_gateway(gateway), plan, rejects, credentials)
        )
    for line in [*stats.refused, *([failure] if failure else [])]:
        print(f"{name}: {line}", file=sys.stderr)
    print(
        f"import {args.file}: {stats.rows} rows read, {stats.records_sent} records sent in {stats.frames} "
        f"frames, {stats.rejected} rows rejected ({rejects_path}), {len(stats.refused)} frames refused, "
        f"{time.monotonic() - started_s:.1f} s",
        flush=True,
    )
    return code or (1 if stats.refused else 0)


def _open_input(args: argparse.Namespace, name: str, rejects_path: Path) -> RecordReader:
    """The file's records through the mapping, once the mapping, its kind and the header are right."""
    mapping = load_mapping(args.mapping)
    if args.expected_kind and mapping.kind != args.expected_kind:
        raise RecordsError(
            f"{args.mapping}: kind is {mapping.kind}, and `{name}` takes {args.expected_kind} "
            "(`smartcustoms import records` takes any kind)"
        )
    if rejects_path.resolve() == args.file.resolve():
        raise RecordsError(f"{rejects_path}: the rejects file would overwrite the input")
    return read_records(args.file, mapping)


def _configured_gateway(gateway: GatewayConfig) -> str:
    """The configured gateway (``--config``, SMARTCUSTOMS_* variables), as other client commands find it."""
    host = "127.0.0.1" if gateway.host in ("", "0.0.0.0", "::") else gateway.host
    return f"{host}:{gateway.port}"


async def _run(
    reader: RecordReader,
    gateway: str,
    plan: ImportPlan,
    rejects: Rejects,
    credentials: grpc.ChannelCredentials | None = None,
) -> tuple[ImportStats, str, int]:
    """Send through a reconnecting client: (stats, "" or the line that says what stopped it, exit code)."""
    from smartcustoms.hardware.sdk.client import IngestError, RetryPolicy, VendorClient

    # Each reconnect is a warning of the SDK's: the command says in one line if it gave up instead.
    logging.getLogger("smartcustoms.hardware.sdk.client").setLevel(logging.ERROR)

    stats = ImportStats()
    client = VendorClient(
        gateway, retry=RetryPolicy(max_attempts=GIVE_UP_AFTER_ATTEMPTS), credentials=credentials
    )
    await client.start()
    try:
        unreadable = await send_records(reader, client, plan, rejects, stats)
        await client.close(CLOSE_TIMEOUT_S)
    except IngestError as error:
        await client.abort()
        return stats, f"gateway {gateway}: {_one_line(error)}", 1
    return stats, unreadable, 2 if unreadable else 0


class Rejects(Protocol):
    """Where rejected rows go: a ``csv.writer``."""

    def writerow(self, row: Iterable[object], /) -> object: ...


async def send_records(
    reader: RecordReader, sink: FrameSink, plan: ImportPlan, rejects: Rejects, stats: ImportStats
) -> str:
    """Batch the records into frames for ``sink`` and the bad rows into ``rejects``; ``stats`` counts
    the answers as they come. Returns "", or the line saying the file turned unreadable midway (what
    was read before that is still sent)."""
    batch: list[frame_pb2.Record] = []
    lines = (0, 0)  # of the batch's first and last record
    unreadable = ""
    try:
        for item in reader:
            stats.rows += 1
            if isinstance(item, RowError):
                stats.rejected += 1
                rejects.writerow([item.line, item.record_id, item.message, *item.cells])
                continue
            lines = (lines[0] if batch else reader.line, reader.line)
            batch.append(item)
            if len(batch) >= plan.batch_size:
                await _send_batch(batch, lines, sink, plan, stats)
                batch = []
    except RecordsError as error:
        unreadable = _one_line(error)
    if batch:
        await _send_batch(batch, lines, sink, plan, stats)
    return unreadable


async def _send_batch(
    records: list[frame_pb2.Record],
    lines: tuple[int, int],
    sink: FrameSink,
    plan: ImportPlan,
    stats: ImportStats,
) -> None:
    from smartcustoms.hardware.sim.records import to_frame

    frame = to_frame(frame_pb2.RecordBatch(records=records), source_id=plan.source_id, sequence=0)
    frame.metadata["import_file"] = plan.file_name
    frame.metadata["import_lines"] = f"{lines[0]}-{lines[1]}"
    stats.frames += 1
    what = f"frame {frame.frame_id} (lines {lines[0]}-{lines[1]}, {len(records)} records)"
    future = await sink.send(frame)

    def answered(done: asyncio.Future[ingest_pb2.IngestAck]) -> None:
        if done.cancelled() or done.exception() is not None:
            return  # the client failed: its error is reported once, not per frame
        ack = done.result()
        if ack.code == OK:
            stats.records_sent += len(records)
            if plan.verbose:
                print(f"{what}: accepted", flush=True)
        else:
            stats.refused.append(
                f"{what}: refused {_STATUS_NAMES.get(ack.code, str(ack.code))}: {ack.message}"
            )

    future.add_done_callback(answered)


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return " ".join(str(error).split())
