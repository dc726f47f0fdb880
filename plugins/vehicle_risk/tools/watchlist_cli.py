"""``smartcustoms watchlist``: the officers' watchlist of plates and drivers the vehicle_risk plugin
always selects for search.

    smartcustoms watchlist add PLATE [--driver HASH] --reason TEXT --officer NAME
    smartcustoms watchlist add --driver HASH --reason TEXT --officer NAME
    smartcustoms watchlist remove PLATE [--driver HASH] [--officer NAME]
    smartcustoms watchlist list [PLATE]

Entries live in the plugin's keyed state on the runtime's Redis (``--config``: ``redis.url``, else the
embedded Redis's port; ``namespace``), so every actor of the plugin sees an entry from the next crossing
on. The officers' watchlist page writes the same entries through the same functions
(``plugins/vehicle_risk/watchlist.py``); every change goes into the audit trail, marked ``via: command``
with the ``--officer`` named (whoever can reach Redis can name anyone: the page records its login).
Errors are one line on stderr: exit 2 for bad arguments, 1 when Redis cannot be reached or a removed
entry did not exist.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartcustoms.core.state import RedisState
    from smartcustoms.plugins.vehicle_risk.watchlist import Audit

PLUGIN_NAME = "vehicle_risk"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = commands.add_parser(
        "watchlist", help="plates and drivers the vehicle risk plugin always selects for search"
    )
    actions = watch.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="watch a plate and/or a driver (replaces an earlier entry)")
    add.add_argument("plate", nargs="?", default="", metavar="PLATE", help="Hong Kong plate, e.g. AB1234")
    add.add_argument("--driver", default="", metavar="HASH", help="driver id hash (driver_id_hash)")
    add.add_argument("--reason", required=True, help="why: shown as the selection's reason")
    add.add_argument("--officer", required=True, help="who adds it")
    add.set_defaults(handler=cmd_add)
    remove = actions.add_parser("remove", help="stop watching a plate and/or a driver")
    remove.add_argument("plate", nargs="?", default="", metavar="PLATE")
    remove.add_argument("--driver", default="", metavar="HASH")
    remove.add_argument("--officer", default="", help="who removes it (recorded in the audit trail)")
    remove.set_defaults(handler=cmd_remove)
    listing = actions.add_parser("list", help="every entry, or the entry of one plate")
    listing.add_argument("plate", nargs="?", default="", metavar="PLATE")
    listing.set_defaults(handler=cmd_list)


def cmd_add(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.vehicle_risk import watchlist

    try:
        entry = watchlist.WatchEntry.now(args.reason, args.officer)
        watched = watchlist.targets(plate=args.plate, driver=args.driver)
        with _state(args) as (state, audit):
            watchlist.add(state, entry, watched, audit)
    except ValueError as error:
        return _refuse(error, 2)
    except _Unreachable as error:
        return _refuse(error, 1)
    for one in watched:
        print(f"watching {one.id} ({one.kind}): {entry.reason} [{entry.officer}]")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.vehicle_risk import watchlist

    try:
        watched = watchlist.targets(plate=args.plate, driver=args.driver)
        with _state(args) as (state, audit):
            removed = watchlist.remove(state, watched, args.officer.strip(), audit)
    except ValueError as error:
        return _refuse(error, 2)
    except _Unreachable as error:
        return _refuse(error, 1)
    if not removed:
        return _refuse(ValueError("not on the watchlist"), 1)
    for one, _ in removed:
        print(f"removed {one.id} ({one.kind})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.vehicle_risk import watchlist
    from smartcustoms.plugins.vehicle_risk.history import plate_key

    try:
        with _state(args) as (state, _):
            if args.plate:
                plate = plate_key(args.plate)
                found = [("plate", plate, entry) for _, entry in watchlist.lookup(state, plate, None)]
            else:
                found = list(watchlist.entries(state))
    except _Unreachable as error:
        return _refuse(error, 1)
    for kind, name, entry in found:
        print(f"{kind:<6}  {name:<18}  {entry.added_at:<25}  {entry.officer:<12}  {entry.reason}")
    if args.plate and not found:
        return _refuse(ValueError(f"{args.plate} is not on the watchlist"), 1)
    return 0


class _Unreachable(RuntimeError):
    """Redis could not be reached."""


@contextlib.contextmanager
def _state(args: argparse.Namespace) -> Iterator[tuple[RedisState, Audit]]:
    """The plugin's state on the configured Redis, closed on exit, and its namespace's audit trail;
    Redis errors become ``_Unreachable``."""
    import redis

    from smartcustoms.core import config as config_module
    from smartcustoms.core.keys import plugin_state_prefix
    from smartcustoms.core.state import open_state
    from smartcustoms.plugins.vehicle_risk.watchlist import Audit

    config = config_module.load(getattr(args, "config", None))
    url = config.redis.client_url
    state = open_state(url, plugin_state_prefix(config.namespace, PLUGIN_NAME))
    try:
        yield state, Audit(config.namespace, "command")
    except redis.RedisError as error:
        raise _Unreachable(f"Redis at {url}: {error}") from None
    finally:
        state.close()


def _refuse(error: Exception, code: int) -> int:
    print(f"smartcustoms watchlist: {error}", file=sys.stderr)
    return code
