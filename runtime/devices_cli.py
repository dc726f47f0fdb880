"""``smartcustoms devices``: the registry of devices allowed to send frames (runtime/devices.py).

    smartcustoms devices add NAME [--note TEXT]   # NAME may send as NAME and NAME-*
    smartcustoms devices list
    smartcustoms devices revoke NAME              # refused within a second, certificate or not

The registry is enforced with ``gateway.device_registry = true``; these commands write the runtime's
Redis directly, as ``smartcustoms officers`` does: they are the operator's, on the host.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from smartcustoms.core import config as config_module
from smartcustoms.runtime.devices import Device, DeviceRegistry

T = TypeVar("T")


def _run(args: argparse.Namespace, work: Callable[[DeviceRegistry], Awaitable[T]]) -> T | None:
    config = config_module.load(args.config)

    async def run() -> T:
        client = aioredis.Redis.from_url(config.redis.client_url, socket_connect_timeout=2.0)
        try:
            return await work(DeviceRegistry(client, config.namespace))
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (ValueError, KeyError) as error:
        print(f"smartcustoms devices: {error.args[0] if error.args else error}", file=sys.stderr)
    except (RedisError, OSError) as error:
        print(f"smartcustoms devices: the runtime's Redis does not answer ({error})", file=sys.stderr)
    return None


def _line(device: Device) -> str:
    added = datetime.fromtimestamp(device.added_s, UTC).strftime("%Y-%m-%d %H:%M")
    state = (
        "active"
        if device.active
        else "revoked " + datetime.fromtimestamp(device.revoked_s, UTC).strftime("%Y-%m-%d %H:%M")
    )
    return f"{device.name:<24} {added}  {state:<24} {device.note}"


def cmd_add(args: argparse.Namespace) -> int:
    device = _run(args, lambda registry: registry.add(args.name, args.note))
    if device is None:
        return 2
    print(f"{device.name}: may send as {device.name} and {device.name}-*")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    devices = _run(args, lambda registry: registry.all())
    if devices is None:
        return 2
    for device in devices:
        print(_line(device))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    device = _run(args, lambda registry: registry.revoke(args.name))
    if device is None:
        return 2
    print(f"{device.name}: revoked; its frames are refused from now on")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    devices = commands.add_parser("devices", help="devices allowed to send frames: add, list, revoke")
    actions = devices.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a device (it may send as NAME and NAME-*)")
    add.add_argument("name")
    add.add_argument("--note", default="", help="what and where it is")
    add.set_defaults(handler=cmd_add)
    actions.add_parser("list", help="registered devices, active or revoked").set_defaults(handler=cmd_list)
    revoke = actions.add_parser("revoke", help="refuse a device's frames from now on")
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_revoke)
