"""The reconciler: frames accepted but without a verdict past their deadline are published again.

After ``max_attempts`` redeliveries a frame gets a manual-inspection verdict instead, published to
the verdicts topic, where the verdict stage stores it (unlike the worker's own verdicts, published
stored already). A broker restart therefore costs time, not
frames. A Redis lock lets one reconciler of many gateways work each round.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from smartcustoms.core import verdicts
from smartcustoms.core.config import ReconcilerConfig
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.publisher import Publisher
from smartcustoms.v1 import frame_pb2, results_pb2

log = logging.getLogger(__name__)

BATCH = 500
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Reconciler:
    def __init__(
        self,
        ledger: Ledger,
        publisher: Publisher,
        config: ReconcilerConfig,
        sensor: Sensor,
    ) -> None:
        self.ledger = ledger
        self.publisher = publisher
        self.config = config
        self.sensor = sensor
        self.owner = uuid.uuid4().hex

    async def run(self) -> None:
        """Reconcile every ``interval_s`` until cancelled; errors are logged, never fatal."""
        while True:
            try:
                await self.reconcile_once()
            except Exception:
                log.exception("reconciliation round failed")
            await asyncio.sleep(self.config.interval_s)

    async def reconcile_once(self) -> int:
        """One round; returns how many frames it republished or expired."""
        lock = self.ledger.key("reconciler", "lock")
        lease_ms = int(max(self.config.interval_s, 1.0) * 2000)
        if not await self.ledger.client.set(lock, self.owner, nx=True, px=lease_ms):
            return 0
        try:
            return await self._round()
        finally:
            await self._release(lock)

    async def _release(self, lock: str) -> None:
        """Give the lock back, unless its lease ran out and another reconciler holds it now."""
        await self.ledger.client.eval(_RELEASE, 1, lock, self.owner)

    async def _round(self) -> int:
        if self.publisher.known_down():
            return 0  # every publish would fail and use up the frames' delivery attempts
        now = time.time()
        handled = 0
        for frame_id in await self.ledger.due(now, BATCH):
            claimed = await self.ledger.claim_redelivery(frame_id, now + self.config.redeliver_after_s)
            if claimed is None:
                continue
            try:
                await self._redeliver(*claimed)
            except Exception as error:  # its deadline moved on: the next rounds try again
                log.warning("redelivery of %s failed: %r", frame_id, error)
                await self.ledger.unclaim(frame_id)
                if self.publisher.known_down():
                    break  # the broker is away: the rest of the round would only wait and fail too
                continue
            handled += 1
        return handled

    async def _redeliver(self, frame: frame_pb2.Frame, attempts: int) -> None:
        """Publish the frame again, or its manual-inspection verdict once it has had its chances."""
        if attempts > self.config.max_attempts:
            reason = f"redelivery_exhausted: no verdict after {self.config.max_attempts} deliveries"
            batch = results_pb2.VerdictBatch(verdicts=[verdicts.fallback(frame, reason)])
            await self.publisher.publish_verdicts(batch, frame.source_id)
        else:
            await self.publisher.publish(frame)
            self.sensor.republished(Modality.from_proto(frame.modality).value)
