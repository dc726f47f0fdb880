"""Dispatch: each frame to every enabled plugin that consumes its modality, on Ray actor pools.

Each plugin has a pool of actors behind an asyncio queue of idle ones (``ray.util.ActorPool`` blocks
the event loop with ``ray.get``). A micro-batch waits for an idle actor, is awaited without blocking
the loop, and comes back as one PluginResult per frame, or as failed results when the plugin raised,
timed out or its actor died: the frame then goes to manual inspection, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from smartcustoms.core import verdicts
from smartcustoms.core.config import ConfigError, PluginConfig
from smartcustoms.core.manager import PluginInfo
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Decision, Modality
from smartcustoms.runtime.actor import BatchOutcome, PluginHost, failed_result
from smartcustoms.v1 import frame_pb2, results_pb2

log = logging.getLogger(__name__)

RemoteHost = ray.remote(PluginHost)
RETRY_ALONE = frozenset({"error", "bad_result", "payload_missing", "actor_died"})


def routed_modalities(info: PluginInfo, config: PluginConfig) -> frozenset[Modality]:
    """What the plugin can consume, narrowed to ``consumes`` from its configuration if given."""
    if not config.consumes:
        return info.spec.consumes
    try:
        wanted = frozenset(Modality(name) for name in config.consumes)
    except ValueError as error:
        raise ConfigError(f"plugins.{info.spec.name}.consumes: {error}") from None
    if not wanted <= info.spec.consumes:
        extra = ", ".join(sorted(m.value for m in wanted - info.spec.consumes))
        raise ConfigError(f"plugins.{info.spec.name}.consumes: the plugin cannot consume {extra}")
    return wanted


def accepts(
    info: PluginInfo, config: PluginConfig, modalities: frozenset[Modality], frame: frame_pb2.Frame
) -> bool:
    """Whether a plugin is to see a frame: by modality, by source (configuration), by metadata (spec)."""
    if Modality.from_proto(frame.modality) not in modalities:
        return False
    patterns = config.sources
    if patterns and not any(fnmatch.fnmatchcase(frame.source_id, pattern) for pattern in patterns):
        return False
    keys = frame.metadata.keys()
    spec = info.spec
    if spec.requires_metadata and not spec.requires_metadata & keys:
        return False
    return not spec.excludes_metadata & keys


class ActorPool:
    """The actors of one plugin, handed out one batch at a time."""

    def __init__(
        self, info: PluginInfo, config: PluginConfig, store: Mapping[str, Any], sensor: Sensor
    ) -> None:
        self.info = info
        self.config = config
        self.store = dict(store)
        self.sensor = sensor
        self.modalities = routed_modalities(info, config)
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(max(1, config.pool_size)):
            self.idle.put_nowait(self._spawn())
        sensor.pool_sized(info.spec.name, max(1, config.pool_size))

    def accepts(self, frame: frame_pb2.Frame) -> bool:
        return accepts(self.info, self.config, self.modalities, frame)

    @property
    def name(self) -> str:
        return self.info.spec.name

    def _spawn(self) -> Any:
        settings = {**self.info.spec.default_settings, **self.config.settings}
        options = RemoteHost.options(num_cpus=self.config.num_cpus, max_restarts=0)
        return options.remote(self.info.import_path, settings, self.store)

    async def assess(self, frames: Sequence[frame_pb2.Frame]) -> list[results_pb2.PluginResult]:
        """One PluginResult per frame, whatever happens to the plugin.

        When a batch of several frames fails for a reason other than a timeout, each frame is tried
        again alone, so one poisonous frame does not send its neighbours to manual inspection.
        """
        outcome = await self._run_batch(frames)
        if outcome.failure_reason in RETRY_ALONE and len(frames) > 1:
            singles = await asyncio.gather(*(self.assess([frame]) for frame in frames))
            return [result for (result,) in singles]
        return self._results(outcome, len(frames))

    async def _run_batch(self, frames: Sequence[frame_pb2.Frame]) -> BatchOutcome:
        self.sensor.batch_queued(self.name, len(frames))
        queued = time.monotonic()
        actor = await self.idle.get()
        self.sensor.batch_started(self.name, len(frames))
        outcome = BatchOutcome((), 0.0, "error", "cancelled")
        try:
            outcome, actor = await self._call(actor, [f.SerializeToString() for f in frames])
        finally:
            self.idle.put_nowait(actor)
            self.sensor.batch_done(self.name, time.monotonic() - queued, outcome.duration_s or None)
        return outcome

    async def _call(self, actor: Any, payload: list[bytes]) -> tuple[BatchOutcome, Any]:
        try:
            outcome = await asyncio.wait_for(actor.process.remote(payload), self.config.timeout_s)
            return outcome, actor
        except TimeoutError:
            reason, detail = "timeout", f"no answer within {self.config.timeout_s} s"
        except RayActorError as error:
            reason, detail = "actor_died", str(error).splitlines()[0]
        except RayTaskError as error:
            reason, detail = "error", str(error).splitlines()[0]
        log.warning("plugin %s failed a batch (%s): %s; replacing its actor", self.name, reason, detail)
        ray.kill(actor, no_restart=True)
        return BatchOutcome((), 0.0, reason, detail), self._spawn()

    def _results(self, outcome: BatchOutcome, count: int) -> list[results_pb2.PluginResult]:
        spec = self.info.spec
        if outcome.failure_reason:
            reason = outcome.failure_reason
            self.sensor.plugin_failed(self.name, "error" if reason == "payload_missing" else reason)
            return [failed_result(spec.name, spec.version, reason, outcome.failure) for _ in range(count)]
        results = [results_pb2.PluginResult.FromString(raw) for raw in outcome.results]
        for result in results:
            result.duration_seconds = outcome.duration_s
            self.sensor.plugin_assessed(self.name, Decision.from_proto(result.decision))
        return results

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Run each idle actor's shutdown hook (bounded), then end the actors."""
        actors = []
        while not self.idle.empty():
            actors.append(self.idle.get_nowait())
        if actors:
            calls = asyncio.gather(*(actor.shutdown.remote() for actor in actors), return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(calls, timeout_s)
        for actor in actors:
            ray.kill(actor, no_restart=True)


class Dispatcher:
    """Routes each frame to the pools that accept it and combines their results into verdicts."""

    def __init__(self, pools: Sequence[ActorPool]) -> None:
        self.pools = list(pools)

    async def decide(self, frames: Sequence[frame_pb2.Frame]) -> list[results_pb2.Verdict]:
        """A verdict for each distinct frame of the batch (redelivered copies are merged)."""
        unique = list({frame.frame_id: frame for frame in frames}.values())
        results: dict[str, list[results_pb2.PluginResult]] = defaultdict(list)
        jobs = []
        for pool in self.pools:
            mine = [f for f in unique if pool.accepts(f)]
            step = max(1, pool.config.batch_max_frames)
            jobs += [self._run(pool, mine[i : i + step], results) for i in range(0, len(mine), step)]
        await asyncio.gather(*jobs)
        return [verdicts.combine(frame, results[frame.frame_id]) for frame in unique]

    @staticmethod
    async def _run(
        pool: ActorPool, frames: list[frame_pb2.Frame], results: dict[str, list[results_pb2.PluginResult]]
    ) -> None:
        for frame, result in zip(frames, await pool.assess(frames), strict=True):
            results[frame.frame_id].append(result)

    async def stop(self) -> None:
        await asyncio.gather(*(pool.stop() for pool in self.pools))
