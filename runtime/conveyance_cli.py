"""``smartcustoms conveyance show ID``: a conveyance's decision with every reason, read from Redis.

    smartcustoms conveyance show CONVEYANCE_ID [--json]

A conveyance still in its window shows its parts so far and when the window closes. Unknown ids,
an unreachable Redis and bad arguments are one line on stderr (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf.json_format import MessageToJson
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.conveyance import outcome_name
from smartcustoms.core.types import Modality
from smartcustoms.v1 import conveyance_pb2, results_pb2

if TYPE_CHECKING:
    from smartcustoms.runtime.conveyances import Snapshot


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conveyance = commands.add_parser(
        "conveyance", help="one decision per conveyance: show it with its reasons"
    )
    actions = conveyance.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a conveyance's latest decision, its reasons and earlier versions")
    show.add_argument(
        "conveyance_id", help="vehicle plate, container number, bag tag ... as the frames name it"
    )
    show.add_argument("--json", action="store_true", help="every decision version as JSON, one per line")
    show.set_defaults(handler=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    import redis
    import redis.asyncio as aioredis

    from smartcustoms.core import config as config_module
    from smartcustoms.runtime.conveyances import ConveyanceStore

    config = config_module.load(getattr(args, "config", None))
    conveyance_id = args.conveyance_id.strip()
    if not conveyance_id:
        return _fail("the conveyance id is empty")

    async def read() -> tuple[list[conveyance_pb2.ConveyanceDecision], list[str]]:
        client = aioredis.Redis.from_url(config.redis.client_url, socket_timeout=5.0)
        try:
            store = ConveyanceStore(client, config.namespace)
            history = await store.history(conveyance_id)
            snapshot = None if history else await store.snapshot(conveyance_id)
            return history, [] if snapshot is None else pending_lines(snapshot, time.time())
        finally:
            await client.aclose()

    try:
        history, pending = asyncio.run(read())
    except redis.RedisError as error:
        return _fail(f"cannot read conveyances from Redis at {config.redis.client_url}: {error}")
    if args.json and history:
        for decision in history:
            print(MessageToJson(decision, indent=None, preserving_proto_field_name=True))
        return 0
    if history:
        print("\n".join(decision_lines(history)))
        return 0
    if pending:
        print("\n".join(pending))
        return 0
    return _fail(f"no conveyance {conveyance_id!r} in namespace {config.namespace!r}")


def decision_lines(history: list[conveyance_pb2.ConveyanceDecision]) -> list[str]:
    """The latest decision in full, then one line per earlier version."""
    latest = history[-1]
    took_s = _seconds(latest.decided_time) - _seconds(latest.opened_time)
    lines = [
        f"{latest.summary}",
        f"  decision  {outcome_name(latest.outcome).upper()}, version {latest.version} ({latest.trigger}), "
        f"{_when(latest.decided_time)}, {took_s:.1f} s after the first frame"
        + (f", at {latest.control_point}" if latest.control_point else ""),
        f"  frames    {', '.join(latest.frame_ids) or '-'}",
    ]
    if latest.missing:
        lines.append(f"  missing   {', '.join(_modality(m) for m in latest.missing)}")
    lines.append("  reasons")
    lines += [f"    {reason_line(reason)}" for reason in latest.reasons]
    for earlier in reversed(history[:-1]):
        lines.append(
            f"  earlier   version {earlier.version} ({earlier.trigger}) {_when(earlier.decided_time)}: "
            f"{earlier.summary}"
        )
    return lines


def reason_line(reason: conveyance_pb2.ConveyanceReason) -> str:
    effect = outcome_name(reason.effect).upper()
    if not reason.frame_id:
        return f"{effect:<8} {reason.explanation}"
    decision = results_pb2.Decision.Name(reason.decision).removeprefix("DECISION_").lower()
    labels = f" [{', '.join(reason.labels)}]" if reason.labels else ""
    return (
        f"{effect:<8} frame {reason.frame_id} ({_modality(reason.modality)}) "
        f"{reason.plugin or '-'} {decision}{labels}: {reason.explanation}"
    )


def pending_lines(snapshot: Snapshot, now_s: float) -> list[str]:
    """A conveyance not decided yet: its parts and when its window closes."""
    parts = ", ".join(f"{p.frame_id} ({_modality(p.modality)})" for p in snapshot.parts) or "-"
    left_s = snapshot.deadline_s - now_s
    closes = f"closes in {left_s:.1f} s" if left_s > 0 else f"closed {-left_s:.1f} s ago, deciding"
    return [f"OPEN {snapshot.conveyance_id}: no decision yet, window {closes}", f"  frames    {parts}"]


def _modality(number: int) -> str:
    try:
        return Modality.from_proto(number).value
    except ValueError:
        return "unknown"


def _seconds(stamp: Timestamp) -> float:
    return stamp.ToNanoseconds() / 1e9


def _when(stamp: Timestamp) -> str:
    return datetime.fromtimestamp(_seconds(stamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fail(message: str) -> int:
    print(f"smartcustoms conveyance: {message}", file=sys.stderr)
    return 1
