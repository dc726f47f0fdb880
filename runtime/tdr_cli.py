"""``smartcustoms tdr``: a frame's verdict, from the runtime's ledger, as a DICOS Threat Detection Report.

    smartcustoms tdr --frame-id ID --out FILE [--image DICOS_FILE ...]

The verdict is the runtime's (its Redis ledger, found from ``--config``); writing it as a TDR is the
device side's (``smartcustoms.hardware.dicos.write_tdr``), which needs no runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartcustoms.core.config import Config
    from smartcustoms.v1 import results_pb2


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tdr = commands.add_parser("tdr", help="write a frame's verdict as a DICOS Threat Detection Report")
    tdr.add_argument("--frame-id", required=True, help="frame whose verdict to write")
    tdr.add_argument("--out", required=True, type=Path, help="TDR file to write (.dcs)")
    tdr.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="DICOS_FILE",
        help="the frame's DICOS image(s): the TDR references them and maps regions to mm with their geometry",
    )
    tdr.set_defaults(handler=cmd_tdr)


def cmd_tdr(args: argparse.Namespace) -> int:
    """0 written, 1 no verdict for the frame, 2 an unreadable image."""
    from smartcustoms.core import config as config_module
    from smartcustoms.hardware.dicos import DicosError, read_frames, write_tdr

    config = config_module.load(getattr(args, "config", None))
    try:
        source = dict(read_frames(args.image, source_id="tdr")[0].metadata) if args.image else {}
    except (DicosError, OSError) as error:
        print(f"smartcustoms tdr: {error}", file=sys.stderr)
        return 2
    redis_url = config.redis.client_url
    verdict = asyncio.run(_verdict(redis_url, config, args.frame_id))
    if verdict is None:
        print(f"smartcustoms tdr: no verdict for frame {args.frame_id} in {redis_url}", file=sys.stderr)
        return 1
    ds = write_tdr(args.out, verdict, source)
    print(f"{args.out}: {ds.AlarmDecision}, {len(ds.ThreatSequence)} threat objects, TDR {ds.SOPInstanceUID}")
    return 0


async def _verdict(redis_url: str, config: Config, frame_id: str) -> results_pb2.Verdict | None:
    import redis.asyncio as aioredis

    from smartcustoms.runtime.ledger import ledger_for

    client = aioredis.Redis.from_url(redis_url)
    try:
        return await ledger_for(config, client).verdict(frame_id)
    finally:
        await client.aclose()
