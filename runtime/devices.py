"""The device registry: which devices may send frames, kept in Redis, managed by ``smartcustoms devices``.

With ``gateway.device_registry`` on, a frame is taken only from a source that belongs to a registered
device that is not revoked: the device ``D`` owns the source ``D`` and every ``D-<anything>``
(``lane-1`` owns ``lane-1-xray``); any other source is PERMISSION_DENIED. Under mutual TLS the device
is also the certificate's common name (``runtime/tls.py``), so revoking a device here shuts out a
certificate that is still valid. Source ids thereby come from a bounded, known set: metric labels and
per-source keys cannot be flooded by invented ids.

Every gateway reads the registry at most every ``REFRESH_S`` (not per frame); a device added or revoked
takes effect within that time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from smartcustoms.core.frames import identifier_problem
from smartcustoms.core.keys import redis_prefix

__all__ = ["Device", "DeviceRegistry", "RegistryCache", "owner_of", "registry_key"]

log = logging.getLogger(__name__)

REFRESH_S = 1.0


def registry_key(namespace: str) -> str:
    return f"{redis_prefix(namespace)}devices"


@dataclass(frozen=True)
class Device:
    name: str
    added_s: float
    note: str = ""
    revoked_s: float = 0.0

    @property
    def active(self) -> bool:
        return not self.revoked_s


def owner_of(source_id: str, devices: set[str]) -> str | None:
    """The device among ``devices`` that owns ``source_id`` (the longest matching name), or None."""
    parts = source_id.split("-")
    for end in range(len(parts), 0, -1):
        name = "-".join(parts[:end])
        if name in devices:
            return name
    return None


class DeviceRegistry:
    """The registry in Redis: one hash field per device."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client, self.key = client, registry_key(namespace)

    async def add(self, name: str, note: str = "") -> Device:
        problem = identifier_problem(name, "a device name") or ("" if name else "a device name is needed")
        if problem:
            raise ValueError(problem)
        device = Device(name, time.time(), note)
        await self.client.hset(self.key, name, json.dumps(device.__dict__))
        return device

    async def revoke(self, name: str) -> Device:
        found = await self.get(name)
        if found is None:
            raise KeyError(f"no device named {name!r}")
        revoked = Device(found.name, found.added_s, found.note, time.time())
        await self.client.hset(self.key, name, json.dumps(revoked.__dict__))
        return revoked

    async def get(self, name: str) -> Device | None:
        raw = await self.client.hget(self.key, name)
        return None if raw is None else Device(**json.loads(raw))

    async def all(self) -> list[Device]:
        found = await self.client.hgetall(self.key)
        return sorted((Device(**json.loads(v)) for v in found.values()), key=lambda d: d.name)


class RegistryCache:
    """A gateway's copy of the active device names, refreshed every ``REFRESH_S``."""

    def __init__(self, registry: DeviceRegistry, refresh_s: float = REFRESH_S) -> None:
        self.registry, self.refresh_s = registry, refresh_s
        self.active: set[str] = set()

    async def refresh(self) -> None:
        self.active = {d.name for d in await self.registry.all() if d.active}

    def owner(self, source_id: str) -> str | None:
        return owner_of(source_id, self.active)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as error:  # the last copy stands while Redis is away
                log.debug("device registry: cannot read Redis: %s", error)
            await asyncio.sleep(self.refresh_s)
