"""The fusion stage: one decision per conveyance, on the stream (docs/risk.md, "One decision per conveyance").

Every verdict that names a conveyance becomes a part of it (``core.conveyance.part_of``); the first
part opens a window of ``fusion.window_s`` from that frame's acceptance. The conveyance is decided at
once when every ``fusion.expected_modalities`` is present, else when the window closes (INSPECT with
"timeout: missing ..." if expected parts never came); a frame after the decision re-opens it and makes
a new decision version at once (trigger ``late``). Each decision is stored, published to the
``<namespace>.conveyances`` topic and, for HOLD and INSPECT, raised as an alert through the
``smartcustoms_alert`` hook, like a frame's alert.

Fed by the verdicts topic's agent, not by an agent of its own. The verdicts on that topic are stored
already (by the frames agent that decided them, or by this agent for the reconciler's fallbacks), and
the agent hands each micro-batch to ``observe_messages`` before the batch is acknowledged, so a verdict
reaches the fusion stage at least once (a redelivered one is a no-op: parts are keyed by frame id).
Measured on this 2-core machine, 20,000 VerdictBatch messages of 4 verdicts through tansu, one Faust
worker, medians of four interleaved runs with other jobs sharing the CPU: one agent on the verdicts
topic ~2.9k messages/s; the same agent also parsing each batch for the fusion stage ~3.5k/s (no
measurable cost, the difference is noise); a second agent on the same topic ~2.4k/s for both, a sixth to
a third slower, since a Faust worker is latency-bound per message and each message then goes through two
streams. Parsing a batch twice costs microseconds per verdict and keeps the hook out of the sink.

State in Redis, not in Faust tables. Faust tables recover from a changelog topic, and tansu's wrong
"latest offset" answers (INFRA_NOTES) break that recovery; Faust's exactly-once mode, which would make
table updates and offsets atomic, cannot run on it either. Redis scripts make each step atomic instead
(``runtime.conveyances``), so the state survives a worker restart or a kill mid-window, several
workers can share it, the gateway exports the per-conveyance conservation law from it, and an officer's
``smartcustoms conveyance show`` reads it without the worker. Windows are closed by a timer in every
worker (``fusion.scan_interval_s``): whichever worker's script runs first decides, the others find
nothing to do, so a conveyance gets exactly one decision per version.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import faust
import pluggy
import redis.asyncio as aioredis
from google.protobuf.message import DecodeError

from smartcustoms.core.config import Config, FusionConfig
from smartcustoms.core.conveyance import FusionRule, alert_for, decide, outcome_name, part_of, trigger
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime.conveyances import ConveyanceStore, Stored
from smartcustoms.runtime.topics import conveyances_topic
from smartcustoms.v1 import conveyance_pb2, results_pb2

log = logging.getLogger(__name__)

SETTLE_ATTEMPTS = 5  # a conveyance still changing after this many reads is left to the next scan
DUE_BATCH = 500
OUTBOX_BATCH = 500
OUTBOX_LEASE_S = 5.0  # longer than publishing a batch takes; a dead holder's lease runs out soon

Publish = Callable[[conveyance_pb2.ConveyanceDecision], Awaitable[None]]
RaiseAlert = Callable[[results_pb2.Alert], None]


class FusionStage:
    """Joins verdicts into conveyances and decides them; ``publish`` sends a decision on its way
    (to the conveyances topic), ``raise_alert`` hands an alert to the plugins' alert hook."""

    def __init__(
        self,
        store: ConveyanceStore,
        config: FusionConfig,
        sensor: Sensor,
        publish: Publish,
        raise_alert: RaiseAlert | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.window_s = float(config.window_s)
        self.rule = FusionRule.from_config(config)
        self.sensor = sensor
        self.publish = publish
        self.raise_alert = raise_alert if config.alerts else None
        self.clock = clock
        self._flushing = asyncio.Lock()
        self.owner = uuid.uuid4().hex
        sensor.conveyances_started()

    async def observe_messages(self, messages: Sequence[bytes]) -> None:
        """``observe`` the verdicts of serialized VerdictBatch messages (unparsable ones are the sink's
        to dead-letter)."""
        found: list[results_pb2.Verdict] = []
        for raw in messages:
            try:
                found += [v for v in results_pb2.VerdictBatch.FromString(raw).verdicts if v.conveyance_id]
            except DecodeError:
                continue
        await self.observe(found)

    async def observe(self, verdicts: Sequence[results_pb2.Verdict]) -> None:
        """Join each verdict to its conveyance; decide those it completes or re-opens."""
        items = [(v.conveyance_id, part_of(v)) for v in verdicts if v.conveyance_id]
        if not items:
            return
        observed = await self.store.observe(items, self.window_s, self.clock())
        to_settle = []
        for (conveyance_id, part), answer in zip(items, observed, strict=True):
            if answer.status == "duplicate":
                continue
            self.sensor.conveyance_joined(_modality(part.modality), late=answer.status == "late")
            if answer.status == "late" or self.rule.expected_modalities:
                to_settle.append(conveyance_id)
        decided = [await self.settle(conveyance_id) for conveyance_id in dict.fromkeys(to_settle)]
        if any(d is not None for d in decided):  # else nothing to publish; leftovers go with the timer
            try:
                await self.flush()
            except Exception:  # the decisions wait in the outbox; the verdicts must keep flowing
                log.exception("publishing conveyance decisions failed; the next scan retries")

    async def settle(self, conveyance_id: str) -> conveyance_pb2.ConveyanceDecision | None:
        """Decide the conveyance if it is due (complete, window closed, or re-opened); None if not."""
        for _ in range(SETTLE_ATTEMPTS):
            snapshot = await self.store.snapshot(conveyance_id)
            if snapshot is None:
                return None
            now_s = self.clock()
            why = trigger(
                snapshot.parts,
                self.rule,
                version=snapshot.version,
                reopened=snapshot.reopened,
                deadline_s=snapshot.deadline_s,
                now_s=now_s,
            )
            if why is None:
                return None
            decision = decide(
                conveyance_id,
                snapshot.parts,
                self.rule,
                trigger=why,
                version=snapshot.version + 1,
                opened_s=snapshot.opened_s,
                now_s=now_s,
            )
            stored = await self.store.decide(snapshot, decision)
            if stored == Stored.DECIDED:
                latency_s = now_s - snapshot.opened_s if snapshot.version == 0 else None
                self.sensor.conveyance_decided(outcome_name(decision.outcome), why, latency_s)
                return decision
            if stored == Stored.NOTHING:
                return None
        return None

    async def close_due(self) -> int:
        """Decide every conveyance whose window closed or that a late frame re-opened; publish."""
        decided = 0
        for conveyance_id in await self.store.due(self.clock(), DUE_BATCH):
            decided += await self.settle(conveyance_id) is not None
        await self.flush()
        return decided

    async def flush(self) -> int:
        """Publish the decisions in the outbox (and raise their alerts), then take them out of it.

        A worker that dies in between publishes them again after its restart: at least once.
        """
        async with self._flushing:
            if not await self.store.claim_outbox(self.owner, OUTBOX_LEASE_S):
                return 0  # another worker is publishing; what it misses, the next tick sends
            try:
                return await self._publish_outbox()
            finally:
                await self.store.release_outbox(self.owner)

    async def _publish_outbox(self) -> int:
        sent = 0
        for field, decision in await self.store.outbox(OUTBOX_BATCH):
            await self.publish(decision)
            alert = alert_for(decision) if self.raise_alert is not None else None
            if alert is not None and self.raise_alert is not None:
                self.raise_alert(alert)
            await self.store.published(field)
            sent += 1
        return sent


def _modality(number: int) -> str:
    try:
        return Modality.from_proto(number).value
    except ValueError:
        return "unknown"


def wire(app: faust.App, config: Config, sensor: Sensor, pm: pluggy.PluginManager) -> FusionStage:
    """The stage of a worker's Faust app: its Redis store, the conveyances topic it publishes to, the
    plugins' alert hook, and the timer that closes windows."""
    topic = app.topic(conveyances_topic(config.namespace), value_type=bytes, internal=False)

    async def publish(decision: conveyance_pb2.ConveyanceDecision) -> None:
        key, value = decision.conveyance_id.encode(), decision.SerializeToString()
        await (await topic.send(key=key, value=value))  # confirmed by the broker before leaving the outbox

    def raise_alert(alert: results_pb2.Alert) -> None:
        try:
            pm.hook.smartcustoms_alert(alert=alert)
        except Exception:
            sensor.hook_failed("smartcustoms_alert")
            log.exception("a plugin's smartcustoms_alert hook raised on %s", alert.alert_id)

    client = aioredis.Redis.from_url(config.redis.url)
    store = ConveyanceStore(client, config.namespace, ttl_s=config.redis.verdict_ttl_s)
    stage = FusionStage(store, config.fusion, sensor, publish, raise_alert)

    async def close_conveyance_windows() -> None:
        try:
            await stage.close_due()
        except Exception:  # Redis or the broker away for a moment: the next tick tries again
            log.exception("closing conveyance windows failed")

    app.timer(config.fusion.scan_interval_s)(close_conveyance_windows)
    return stage
