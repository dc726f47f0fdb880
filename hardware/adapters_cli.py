"""``smartcustoms`` subcommands for real device formats: DICOS files in, LLRP readers in.

    smartcustoms ingest-dicos FILE... --gateway HOST:PORT --source-id ID
    smartcustoms llrp --reader HOST:PORT --gateway HOST:PORT --source-id ID --zone Z [--reports N]
    smartcustoms llrp-sim [--port 5084] [--tags 12] [--foreign 2]

They talk to the runtime only through the gateway's gRPC contract. Verdicts out as DICOS TDRs
(``smartcustoms tdr``) read the runtime's ledger, so that command is the runtime's
(``smartcustoms.runtime.tdr_cli``); it writes with ``smartcustoms.hardware.dicos.write_tdr``.

``add_parser(commands)`` registers them; each handler takes the parsed arguments and returns the exit
code (0 done, 1 something was rejected or not found, 2 bad input).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import grpc

from smartcustoms.hardware.llrp.codec import DEFAULT_PORT


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = commands.add_parser(
        "ingest-dicos",
        help="send DICOS CT and DX files to the gateway as frames, each with the scanner's own TDR if given",
    )
    ingest.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="DICOS CT or DX files (.dcs), and the scanner's Threat Detection Reports (type MACHINE) of them",
    )
    ingest.add_argument("--gateway", required=True, metavar="HOST:PORT", help="ingest gateway address")
    ingest.add_argument("--source-id", required=True, help="device id of the scanner")
    ingest.add_argument("--control-point", default="", help="border control point")
    ingest.add_argument("--first-sequence", type=int, help="sequence numbers from here (default: scan time)")
    ingest.set_defaults(handler=cmd_ingest_dicos)

    reader = commands.add_parser("llrp", help="stream an LLRP RFID reader's reports to the gateway")
    reader.add_argument("--reader", required=True, metavar="HOST:PORT", help=f"reader (port {DEFAULT_PORT})")
    reader.add_argument("--gateway", required=True, metavar="HOST:PORT", help="ingest gateway address")
    reader.add_argument("--source-id", required=True, help="device id of the reader at the gateway")
    reader.add_argument("--zone", required=True, help="zone the reader covers, e.g. vault-a")
    reader.add_argument("--reader-id", default="", help="reader id in each batch (default: source id)")
    reader.add_argument("--control-point", default="", help="border control point")
    reader.add_argument("--reports", type=int, help="stop after this many reports (default: until Ctrl-C)")
    reader.add_argument("--report-interval-ms", type=int, default=1000, help="one report per interval")
    reader.add_argument("--mode", choices=("continuous", "periodic"), default="continuous")
    reader.add_argument("--antennas", default="0", help="comma-separated antenna ids; 0 = all")
    reader.add_argument("--keepalive-ms", type=int, default=5000, help="reader keepalive period; 0 = none")
    reader.set_defaults(handler=cmd_llrp)

    simulator = commands.add_parser("llrp-sim", help="run a simulated LLRP reader on 127.0.0.1")
    simulator.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    simulator.add_argument("--tags", type=int, default=12, help="GS1 tags (SGTIN, GRAI, GIAI) in the field")
    simulator.add_argument("--foreign", type=int, default=2, help="tags that are not GS1 EPC-96")
    simulator.add_argument("--seed", type=int, default=0)
    simulator.add_argument("--duration-s", type=float, help="stop after this long (default: until Ctrl-C)")
    simulator.set_defaults(handler=cmd_llrp_sim)


def cmd_ingest_dicos(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.dicos import DicosError, read_frames
    from smartcustoms.hardware.sdk.client import OK, IngestError, send_all

    try:
        frames = read_frames(
            args.files,
            source_id=args.source_id,
            first_sequence=args.first_sequence,
            control_point=args.control_point,
        )
    except (DicosError, OSError) as error:
        print(f"smartcustoms ingest-dicos: {error}", file=sys.stderr)
        return 2
    try:
        acks = asyncio.run(send_all(args.gateway, frames))
    except (IngestError, grpc.RpcError) as error:
        print(f"smartcustoms ingest-dicos: gateway {args.gateway}: {gateway_problem(error)}", file=sys.stderr)
        return 1
    for frame, ack in zip(frames, acks, strict=True):
        shape = "x".join(str(n) for n in frame.shape)
        outcome = "accepted" if ack.code == OK else f"rejected {ack.code} {ack.message}"
        duplicate = " (duplicate)" if ack.duplicate else ""
        print(f"{ack.frame_id}  {frame.metadata.get('sop_instance_uid', '')}  {shape}  {outcome}{duplicate}")
    return 0 if all(ack.code == OK for ack in acks) else 1


def gateway_problem(error: Exception) -> str:
    """One line for a failed call to the gateway (a gRPC error's status and details, not its repr)."""
    if isinstance(error, grpc.RpcError):
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else ""
        if code == grpc.StatusCode.UNAVAILABLE:
            return f"unreachable ({' '.join(str(details).split())})"
        name = code.name if code is not None else "error"
        return f"{name} ({' '.join(str(details).split())})"
    return " ".join(str(error).split())


def cmd_llrp(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.llrp.adapter import AdapterConfig, run_to_gateway
    from smartcustoms.hardware.llrp.rospec import InventorySpec
    from smartcustoms.hardware.sdk.client import IngestError

    try:
        config = AdapterConfig(
            reader=args.reader,
            source_id=args.source_id,
            zone=args.zone,
            reader_id=args.reader_id,
            control_point=args.control_point,
            max_reports=args.reports,
            inventory=InventorySpec(
                antenna_ids=tuple(int(a) for a in args.antennas.split(",")),
                report_interval_ms=args.report_interval_ms,
                mode=args.mode,
                keepalive_interval_ms=args.keepalive_ms,
            ),
        )
    except ValueError as error:
        print(f"smartcustoms llrp: {error}", file=sys.stderr)
        return 2

    async def run() -> int:
        stop = asyncio.Event()
        try:
            with _stop_on_signals(stop):
                stats = await run_to_gateway(config, args.gateway, stop)
        except (IngestError, grpc.RpcError) as error:
            print(f"smartcustoms llrp: gateway {args.gateway}: {error}", file=sys.stderr)
            return 1
        print(
            f"llrp {args.reader}: {stats.reports} reports -> {stats.frames_accepted} frames accepted, "
            f"{stats.frames_rejected} rejected, {stats.empty_reports} empty reports, "
            f"{stats.reconnects} reconnects"
        )
        reached = args.reports is None or stats.reports >= args.reports
        return 0 if reached and stats.frames_rejected == 0 else 1

    return asyncio.run(run())


def cmd_llrp_sim(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.llrp.simulator import ReaderSimulator, tag_population

    async def run() -> int:
        stop = asyncio.Event()
        tags = tag_population(args.seed, args.tags, args.foreign)
        async with ReaderSimulator(tags, seed=args.seed, port=args.port) as simulator:
            print(f"simulated LLRP reader on {simulator.address} with {len(tags)} tags", flush=True)
            with _stop_on_signals(stop), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration_s)
            print(
                f"{simulator.connections} connections, {len(simulator.sent_reports)} reports sent", flush=True
            )
        return 0

    return asyncio.run(run())


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (a clean stop: STOP_ROSPEC, CLOSE_CONNECTION); handlers restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
