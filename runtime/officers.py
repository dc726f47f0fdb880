"""Officer accounts and sessions, in Redis beside the rest of a namespace (docs/security.md).

An account has a name, a role and a password kept only as a salted scrypt hash. Roles rank
screener < supervisor < operator: a screener reviews alerts and works the desks, a supervisor also
changes earlier decisions and overrides, an operator also manages accounts. Logging in opens a session:
a random token (what the browser's cookie or a gRPC caller's ``authorization: Bearer`` carries; Redis
keeps only its SHA-256) with a CSRF token and an expiry. Revoking an account or changing its password
ends its sessions; every account change and every login, failed or not, goes to the audit trail.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from smartcustoms.core.audit import enqueue_event
from smartcustoms.core.keys import redis_prefix

ROLES = ("screener", "supervisor", "operator")  # in rank order
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._'-]{0,63}")
MIN_PASSWORD_CHARS = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB and about 50 ms per hash on this machine
SCRYPT_MAXMEM = 64 * 1024 * 1024
HASH_BYTES = 32
MAX_FAILURES = 10  # failed logins per account within FAILURE_WINDOW_S, then logins wait
FAILURE_WINDOW_S = 900
INITIAL_OPERATOR = "operator"
INITIAL_PASSWORD_FILE = "initial-operator-password"


class OfficerError(ValueError):
    """A request about accounts that cannot be done as asked (bad name, role or password)."""


class LoginRefused(PermissionError):
    """Wrong name or password, a revoked account, or too many failures: one message for all."""


def rank(role: str) -> int:
    """The role's place in ROLES; OfficerError for a role that is not one."""
    if role not in ROLES:
        raise OfficerError(f"role must be one of {', '.join(ROLES)}")
    return ROLES.index(role)


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name != name.strip():
        raise OfficerError("an account name is 1-64 letters, digits, spaces or . _ ' - (no edge spaces)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise OfficerError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    return password


def generated_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def password_hash(
    password: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=HASH_BYTES)


def hashed_fields(password: str) -> dict[str, str]:
    """What an account keeps of its password: a fresh salt, the scrypt parameters and the hash."""
    salt = os.urandom(16)
    digest = password_hash(password, salt)
    return {"salt": salt.hex(), "hash": digest.hex(), "kdf": f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"}


def password_matches(password: str, fields: dict[str, str]) -> bool:
    _, n, r, p = fields["kdf"].split(":")
    digest = password_hash(password, bytes.fromhex(fields["salt"]), int(n), int(r), int(p))
    return hmac.compare_digest(digest, bytes.fromhex(fields["hash"]))


_DECOY = hashed_fields(generated_password())  # unknown names cost as much time as known ones


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    created: float
    revoked: bool

    def may(self, role: str) -> bool:
        """True when this account's role is ``role`` or ranks above it."""
        return not self.revoked and rank(self.role) >= rank(role)


@dataclass(frozen=True)
class Session:
    """A logged-in officer: the account as it is now, the CSRF token of the session."""

    account: Account
    csrf: str

    @property
    def name(self) -> str:
        return self.account.name


@dataclass(frozen=True)
class Opened:
    """A new session: the token is shown once, to the one who logged in."""

    session: Session
    token: str


class OfficerStore:
    """Accounts and sessions of one namespace."""

    def __init__(self, client: aioredis.Redis, namespace: str, session_s: float = 8 * 3600) -> None:
        self.client = client
        self.namespace = namespace
        self.session_s = session_s
        self.prefix = f"{redis_prefix(namespace)}officer:"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def account(self, name: str) -> Account | None:
        fields = await self._fields(name)
        return None if fields is None else _account(name, fields)

    async def accounts(self) -> list[Account]:
        names = sorted(_text(n) for n in await self.client.smembers(self.key("accounts")))
        found = [await self.account(name) for name in names]
        return [a for a in found if a is not None]

    async def add(self, name: str, role: str, password: str, *, by: str) -> Account:
        """A new account; OfficerError if the name is taken or a field is not acceptable."""
        check_name(name)
        rank(role)
        fields = await asyncio.to_thread(hashed_fields, check_password(password))
        fields |= {"role": role, "created": repr(time.time()), "revoked": ""}
        key = self.key("account", name)
        if not await self.client.hsetnx(key, "role", role):
            raise OfficerError(f"account {name!r} exists")
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(fields.items()))
            pipe.sadd(self.key("accounts"), name)
            enqueue_event(pipe, self.namespace, "officer_added", {"officer": name, "role": role, "by": by})
            await pipe.execute()
        return _account(name, fields)

    async def set_password(self, name: str, password: str, *, by: str) -> None:
        """Replace the password and end the account's sessions; LookupError for an unknown account."""
        await self._existing(name)
        fields = await asyncio.to_thread(hashed_fields, check_password(password))
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("account", name), mapping=dict(fields.items()))
            enqueue_event(pipe, self.namespace, "officer_password_changed", {"officer": name, "by": by})
            await pipe.execute()
        await self.end_sessions(name)

    async def set_role(self, name: str, role: str, *, by: str) -> None:
        await self._existing(name)
        rank(role)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("account", name), "role", role)
            enqueue_event(
                pipe, self.namespace, "officer_role_changed", {"officer": name, "role": role, "by": by}
            )
            await pipe.execute()

    async def revoke(self, name: str, *, by: str) -> None:
        """The account can no longer log in and its sessions end; it stays listed, as revoked."""
        await self._existing(name)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("account", name), "revoked", repr(time.time()))
            enqueue_event(pipe, self.namespace, "officer_revoked", {"officer": name, "by": by})
            await pipe.execute()
        await self.end_sessions(name)

    async def login(self, name: str, password: str) -> Opened:
        """A new session for the account; LoginRefused (one message for every reason) otherwise."""
        failures_key = self.key("failures", name)
        failures = int(await self.client.get(failures_key) or 0)
        fields = await self._fields(name) if NAME_PATTERN.fullmatch(name) else None
        matches = await asyncio.to_thread(password_matches, password, fields or _DECOY)
        if fields is None or not matches or fields.get("revoked") or failures >= MAX_FAILURES:
            async with self.client.pipeline(transaction=True) as pipe:
                if NAME_PATTERN.fullmatch(name):  # no keys for names no account can have
                    pipe.incr(failures_key)
                    pipe.expire(failures_key, FAILURE_WINDOW_S)
                enqueue_event(pipe, self.namespace, "officer_login_refused", {"officer": name[:64]})
                await pipe.execute()
            raise LoginRefused("wrong name or password, or too many failed attempts: wait and retry")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        digest = token_digest(token)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(failures_key)
            pipe.hset(self.key("session", digest), mapping={"name": name, "csrf": csrf})
            pipe.expire(self.key("session", digest), int(self.session_s))
            pipe.sadd(self.key("sessions", name), digest)
            enqueue_event(pipe, self.namespace, "officer_login", {"officer": name})
            await pipe.execute()
        return Opened(Session(_account(name, fields), csrf), token)

    async def session(self, token: str) -> Session | None:
        """The live session a token opens, with its account as it is now; None if it has ended."""
        if not token:
            return None
        raw = await self.client.hgetall(self.key("session", token_digest(token)))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        account = await self.account(fields["name"])
        if account is None or account.revoked:
            return None
        return Session(account, fields["csrf"])

    async def logout(self, token: str) -> None:
        session = await self.session(token)
        digest = token_digest(token)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.key("session", digest))
            if session is not None:
                pipe.srem(self.key("sessions", session.name), digest)
                enqueue_event(pipe, self.namespace, "officer_logout", {"officer": session.name})
            await pipe.execute()

    async def end_sessions(self, name: str) -> None:
        digests = await self.client.smembers(self.key("sessions", name))
        keys = [self.key("session", _text(d)) for d in digests]
        await self.client.delete(self.key("sessions", name), *keys)

    async def ensure_initial_operator(self, run_dir: str) -> Path | None:
        """On a namespace without accounts, create ``operator`` with a generated password written to a
        file only its owner can read (``initial_password_note`` shows it once); None if there were
        accounts already."""
        if await self.client.scard(self.key("accounts")) or not await self.client.set(
            self.key("bootstrap"), "1", nx=True
        ):
            return None
        password = generated_password()
        await self.add(INITIAL_OPERATOR, "operator", password, by="bootstrap")
        path = Path(run_dir) / INITIAL_PASSWORD_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(f"{INITIAL_OPERATOR}\n{password}\n")
        return path

    async def _fields(self, name: str) -> dict[str, str] | None:
        raw = await self.client.hgetall(self.key("account", name))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return fields if "hash" in fields else None

    async def _existing(self, name: str) -> None:
        if await self._fields(name) is None:
            raise LookupError(f"no account {name!r}")


def initial_password_note(run_dir: str) -> str | None:
    """The initial operator's credentials, once: the file is removed after it is read."""
    path = Path(run_dir) / INITIAL_PASSWORD_FILE
    try:
        name, password = path.read_text().split()[:2]
    except (FileNotFoundError, ValueError):
        return None
    path.unlink(missing_ok=True)
    return (
        f"officer account {name!r} (operator) created with password {password} "
        "(shown once; change it with: smartcustoms officers passwd operator)"
    )


def _account(name: str, fields: dict[str, str]) -> Account:
    return Account(name, fields["role"], float(fields.get("created") or 0), bool(fields.get("revoked")))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
