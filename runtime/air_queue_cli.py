"""``smartcustoms queue``: the air cargo queue's settings and board, from an operator's shell.

    smartcustoms queue settings [--priority CARGO=RANK ...] [--grace-s S] [--set-off-margin-s S]
                                [--max-rejoins N] --officer NAME     # change (without options: show)
    smartcustoms queue board [--json]                                 # counters and waiting tickets

Priorities map each cargo type to a rank (0 is called first); a cargo type given is added or re-ranked,
and tickets already waiting take their new rank. Invalid input is one line on stderr and exit 2; exit 1
when Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

PROG = "smartcustoms queue"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queue = commands.add_parser(
        "queue", help="the air cargo queue: its settings (priorities, grace time), its board"
    )
    actions = queue.add_subparsers(dest="action", required=True, metavar="ACTION")
    settings = actions.add_parser("settings", help="show or change the terminal's queue settings")
    settings.add_argument(
        "--priority", action="append", default=[], metavar="CARGO=RANK", help="rank of a cargo type"
    )
    settings.add_argument("--grace-s", type=float, help="how long a called driver has to come (seconds)")
    settings.add_argument(
        "--set-off-margin-s", type=float, help="told to set off this much before travel time"
    )
    settings.add_argument("--max-rejoins", type=int, help="how often a no-show may rejoin")
    settings.add_argument("--officer", default="", help="who changes them (required to change)")
    settings.set_defaults(handler=cmd_settings)
    board = actions.add_parser("board", help="counters and waiting tickets with their predicted call times")
    board.add_argument("--json", action="store_true", help="print the board as JSON")
    board.set_defaults(handler=cmd_board)


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for item in args.priority:
        cargo, sep, rank = item.partition("=")
        if not sep or not rank.strip().isdigit():
            raise ValueError(f"--priority takes CARGO=RANK (a whole number), got {item!r}")
        changes.setdefault("priorities", {})[cargo.strip()] = int(rank)
    for name in ("grace_s", "set_off_margin_s", "max_rejoins"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return changes


async def _with_desk(args: argparse.Namespace, work: Any) -> Any:
    import redis.asyncio as aioredis

    from smartcustoms.core import config as config_module
    from smartcustoms.runtime.air_queue import QueueDesk

    config = config_module.load(getattr(args, "config", None))
    client = aioredis.Redis.from_url(config.redis.client_url)
    try:
        return await work(QueueDesk(client, config.namespace))
    finally:
        await client.aclose()


def cmd_settings(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from smartcustoms.runtime.air_queue import DESK_ERRORS

    try:
        changes = _changes(args)
        if changes and not args.officer.strip():
            raise ValueError("say who changes the settings (--officer NAME)")

        async def work(desk: Any) -> Any:
            if changes:
                priorities = changes.get("priorities")
                if priorities is not None:  # add to or re-rank the current ones
                    changes["priorities"] = {**(await desk.book()).queue_settings().priorities, **priorities}
                return await desk.configure(changes, args.officer.strip())
            return (await desk.board())["settings"]

        settings = asyncio.run(_with_desk(args, work))
    except (ValueError, *DESK_ERRORS) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as error:
        print(f"{PROG}: Redis: {error}", file=sys.stderr)
        return 1
    ranks = ", ".join(
        f"{c} {r}" for c, r in sorted(settings["priorities"].items(), key=lambda i: (i[1], i[0]))
    )
    print(f"priorities (0 first): {ranks}")
    print(
        f"grace {settings['grace_s']:g} s, set off {settings['set_off_margin_s']:g} s early, "
        f"rejoins {settings['max_rejoins']}"
    )
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    try:
        board = asyncio.run(_with_desk(args, lambda desk: desk.board()))
    except (RedisError, OSError) as error:
        print(f"{PROG}: Redis: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(board, indent=2))
        return 0
    print(f"terminal {'open' if board['terminal_open'] else 'closed'}")
    for counter in board["counters"]:
        ticket = counter["ticket"]
        who = f"{ticket['label']} {ticket['status']}" if ticket else ("idle" if counter["open"] else "closed")
        print(f"  counter {counter['counter_id']:<8} {who}")
    for ticket in board["waiting"]:
        print(f"  {ticket['place']:>3}. {ticket['label']:<6} {ticket['cargo_type']:<16} {ticket['message']}")
    return 0
