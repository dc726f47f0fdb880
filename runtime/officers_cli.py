"""``smartcustoms officers``: officer accounts, straight in the runtime's Redis (docs/security.md).

    smartcustoms officers add NAME --role screener|supervisor|operator [--password-stdin]
    smartcustoms officers list
    smartcustoms officers passwd NAME [--password-stdin]
    smartcustoms officers role NAME ROLE
    smartcustoms officers revoke NAME
    smartcustoms officers login NAME [--password-stdin]

Whoever can reach the runtime's Redis manages accounts: these commands are the operator's, on the
host. Without ``--password-stdin`` ``add`` and ``passwd`` generate a password and print it once.
``login`` prints a session token for ReviewService callers: ``export SMARTCUSTOMS_OFFICER_TOKEN=...``
makes ``smartcustoms alerts`` and ``smartcustoms adjudicate`` act as that officer.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from smartcustoms.core import config as config_module
from smartcustoms.core.config import Config
from smartcustoms.runtime.officers import (
    ROLES,
    LoginRefused,
    OfficerError,
    OfficerStore,
    generated_password,
    initial_password_note,
)

TOKEN_VARIABLE = "SMARTCUSTOMS_OFFICER_TOKEN"
T = TypeVar("T")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    officers = commands.add_parser(
        "officers", help="officer accounts: add, list, passwd, role, revoke, login"
    )
    actions = officers.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a new account (prints a generated password once)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_add)
    actions.add_parser("list", help="accounts, roles, revoked or not").set_defaults(handler=cmd_list)
    passwd = actions.add_parser("passwd", help="a new password (ends the account's sessions)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=cmd_passwd)
    role = actions.add_parser("role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(handler=cmd_role)
    revoke = actions.add_parser("revoke", help="no more logins; the account's sessions end")
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_revoke)
    login = actions.add_parser("login", help=f"print a session token (for {TOKEN_VARIABLE})")
    login.add_argument("name")
    login.add_argument("--password-stdin", action="store_true")
    login.set_defaults(handler=cmd_login)


def cmd_add(args: argparse.Namespace) -> int:
    password = _password(args, generate=True)
    account = _run(args, lambda store: store.add(args.name, args.role, password, by=_by()))
    if account is None:
        return 1
    print(
        f"{account.name} ({account.role}) added" + ("" if args.password_stdin else f"; password {password}")
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    accounts = _run(args, lambda store: store.accounts())
    if accounts is None:
        return 1
    for account in accounts:
        created = datetime.fromtimestamp(account.created, UTC).strftime("%Y-%m-%d %H:%M")
        print(f"{account.name:<24} {account.role:<11} {created}  {'revoked' if account.revoked else ''}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    password = _password(args, generate=True)
    if _run(args, lambda store: _done(store.set_password(args.name, password, by=_by()))) is None:
        return 1
    print(f"{args.name}: password changed" + ("" if args.password_stdin else f" to {password}"))
    return 0


def cmd_role(args: argparse.Namespace) -> int:
    if _run(args, lambda store: _done(store.set_role(args.name, args.role, by=_by()))) is None:
        return 1
    print(f"{args.name}: now {args.role}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if _run(args, lambda store: _done(store.revoke(args.name, by=_by()))) is None:
        return 1
    print(f"{args.name}: revoked")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    password = _password(args, generate=False)
    opened = _run(args, lambda store: store.login(args.name, password))
    if opened is None:
        return 1
    print(opened.token)
    return 0


def _password(args: argparse.Namespace, *, generate: bool) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return generated_password() if generate else getpass.getpass(f"password for {args.name}: ")


def _by() -> str:
    return f"cli:{os.environ.get('USER', 'unknown')}"


async def _done(work: Awaitable[None]) -> bool:
    await work
    return True


def _run(args: argparse.Namespace, work: Callable[[OfficerStore], Awaitable[T]]) -> T | None:
    """``work`` on the configured runtime's accounts; None (after one line on stderr) if refused."""
    config = config_module.load(args.config)
    try:
        return _on_redis(config, work)
    except (OfficerError, LookupError, LoginRefused) as error:
        print(f"smartcustoms officers: {error}", file=sys.stderr)
    except RedisError as error:
        print(f"smartcustoms officers: Redis at {config.redis.client_url}: {error}", file=sys.stderr)
    return None


def officer_token() -> str:
    """The session token ReviewService callers send (``SMARTCUSTOMS_OFFICER_TOKEN``), "" for none."""
    return os.environ.get(TOKEN_VARIABLE, "")


DEMO_ACCOUNT = "demo"


@dataclass(frozen=True)
class DemoLogin:
    """What ``smartcustoms demo`` prints about logging in, and a session of its supervisor account for
    the simulated counter officers of the air cargo queue ("" with officer login off)."""

    lines: str
    token: str


def demo_accounts(config: Config) -> DemoLogin:
    """For ``smartcustoms demo``: a supervisor account with a fresh password, logged in once, and the
    initial operator's credentials if the gateway just made them."""
    if not config.gateway.officer_auth:
        return DemoLogin("officer login: off (gateway.officer_auth = false)", "")
    password = generated_password()

    async def ensure(store: OfficerStore) -> str:
        if await store.account(DEMO_ACCOUNT) is None:
            await store.add(DEMO_ACCOUNT, "supervisor", password, by="demo")
        else:
            await store.set_password(DEMO_ACCOUNT, password, by="demo")
        return (await store.login(DEMO_ACCOUNT, password)).token

    token = _on_redis(config, ensure)
    lines = [f"officer login: account {DEMO_ACCOUNT!r} (supervisor), password {password}"]
    note = initial_password_note(config.run_dir)
    return DemoLogin("\n".join(lines + ([note] if note else [])), token)


def _on_redis(config: Config, work: Callable[[OfficerStore], Awaitable[T]]) -> T:
    async def run() -> T:
        client = aioredis.Redis.from_url(config.redis.client_url, socket_connect_timeout=2.0)
        try:
            return await work(OfficerStore(client, config.namespace, config.gateway.officer_session_s))
        finally:
            await client.aclose()

    return asyncio.run(run())
