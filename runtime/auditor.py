"""The gateway's auditor: seals queued events into the audit trail, and anchors the chain head.

The ledger queues every verdict and adjudication, and the desks every override and custody event, in
the same Redis transaction as the change itself (``smartcustoms.core.audit.enqueue_event``). The
auditor moves the queue into the hash chain, oldest first, a batch per step. Every
``audit.anchor_interval_s`` (and when it stops) it writes the chain head (seq and hash) to the anchor
file, a second store outside Redis, and prints it in the gateway's log, where an operator's log
collection keeps it: rewriting the chain in Redis, even consistently, no longer matches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from smartcustoms.core.audit import AsyncAuditTrail, AuditChainError
from smartcustoms.core.audit_chain import Anchor, utc_stamp
from smartcustoms.core.metrics import AUDIT_ANCHORED_SEQ, AUDIT_KINDS, AUDIT_PENDING, AUDIT_RECORDS

__all__ = ["AnchorFile", "AuditCollector", "Auditor"]

log = logging.getLogger(__name__)


class AnchorFile:
    """Anchors, one JSON line each, appended and flushed to disk (fsync) as they are written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, anchor: Anchor) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(anchor.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())

    def read(self) -> list[Anchor]:
        """Every anchor written; a line that does not parse raises ValueError (the file was changed)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        anchors = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                anchors.append(Anchor.from_json(line))
            except (ValueError, KeyError) as error:
                raise ValueError(f"{self.path}:{number}: not an anchor: {error}") from error
        return anchors

    def last(self) -> Anchor | None:
        anchors = self.read()
        return anchors[-1] if anchors else None


class Auditor:
    """Seal and anchor until cancelled; one step at a time in tests."""

    def __init__(
        self,
        trail: AsyncAuditTrail,
        anchors: AnchorFile,
        *,
        seal_interval_s: float,
        anchor_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.trail = trail
        self.anchors = anchors
        self.seal_interval_s = seal_interval_s
        self.anchor_interval_s = anchor_interval_s
        self.clock = clock
        self._anchored_seq = -1
        self._next_anchor_s = clock() + anchor_interval_s

    async def run(self) -> None:
        try:
            while True:
                try:
                    sealed = await self.step()
                except (RedisError, AuditChainError) as error:
                    log.error("audit: cannot seal the queued events: %s", error)
                    sealed = 0
                if not sealed:
                    await asyncio.sleep(self.seal_interval_s)
        finally:
            with contextlib.suppress(RedisError, AuditChainError, OSError):
                await asyncio.shield(self.drain_and_anchor())

    async def step(self) -> int:
        """Seal one batch of the queue; anchor when it is time. Returns how many records were sealed."""
        sealed = await self.trail.seal_pending()
        if self.clock() >= self._next_anchor_s:
            await self.anchor()
            self._next_anchor_s = self.clock() + self.anchor_interval_s
        return len(sealed)

    async def drain_and_anchor(self, max_batches: int = 100) -> Anchor | None:
        """Seal what is queued (a bounded number of batches), then anchor: the gateway's last act."""
        for _ in range(max_batches):
            if not await self.trail.seal_pending():
                break
        return await self.anchor()

    async def anchor(self) -> Anchor | None:
        """Write the chain's head (whoever appended it), if it moved since the last anchor."""
        try:
            head = await self.trail.last()
        except ValueError as error:  # the tail was written behind the system's back: verify will say where
            log.error("audit: not anchoring, the last record is unreadable: %s", error)
            return None
        if head is None or head.seq == self._anchored_seq:
            return None
        anchor = Anchor(head.seq, head.hash, utc_stamp(self.clock()))
        self.anchors.write(anchor)
        self._anchored_seq = anchor.seq
        log.warning("audit anchor: record %d hash %s at %s", anchor.seq, anchor.hash, anchor.at)
        return anchor

    @property
    def anchored_seq(self) -> int:
        return self._anchored_seq


class AuditCollector(Collector):
    """The trail's records by kind and its queue, read from Redis at scrape time; the anchored head
    from the auditor of this gateway."""

    def __init__(self, redis_url: str, namespace: str, auditor: Auditor | None = None) -> None:
        import redis

        from smartcustoms.core.audit import AuditTrail

        self.trail = AuditTrail(redis.Redis.from_url(redis_url, socket_timeout=2.0), namespace)
        self.auditor = auditor

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        kinds, pending = self.trail.kinds(), self.trail.pending()  # RedisError: see RedisCollectors
        records = CounterMetricFamily(
            AUDIT_RECORDS.name, AUDIT_RECORDS.documentation, labels=AUDIT_RECORDS.labels
        )
        for kind in sorted(set(AUDIT_KINDS) | set(kinds)):  # the usual kinds exist from the start, at 0
            records.add_metric([kind], kinds.get(kind, 0))
        yield records
        yield GaugeMetricFamily(AUDIT_PENDING.name, AUDIT_PENDING.documentation, value=pending)
        if self.auditor is not None:
            anchored = self.auditor.anchored_seq
            yield GaugeMetricFamily(AUDIT_ANCHORED_SEQ.name, AUDIT_ANCHORED_SEQ.documentation, value=anchored)
