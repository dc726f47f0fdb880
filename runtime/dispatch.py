"""Dispatch: each frame to every enabled plugin that consumes its modality, on Ray actor pools.

Each plugin has a pool of actors behind an asyncio queue of idle ones (``ray.util.ActorPool`` blocks
the event loop with ``ray.get``). A micro-batch waits for an idle actor, is awaited without blocking
the loop, and comes back as one PluginResult per frame, or as failed results when the plugin raised,
timed out or its actor died: the frame then goes to manual inspection, charged to that plugin alone,
and the stream goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fnmatch
import hashlib
import json
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from smartcustoms.core import verdicts
from smartcustoms.core.config import ConfigError, PluginConfig
from smartcustoms.core.manager import PluginInfo
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import RECORD_KIND_KEY, Decision, Modality
from smartcustoms.runtime.actor import ActorSpec, BatchOutcome, PluginHost, ReadyReport, failed_result
from smartcustoms.v1 import frame_pb2, results_pb2

log = logging.getLogger(__name__)

RemoteHost = ray.remote(PluginHost)
RETRY_ALONE = frozenset({"error", "bad_result", "payload_missing", "actor_died", "timeout"})


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
    if spec.requires_metadata and not any(frame.metadata.get(key) for key in spec.requires_metadata):
        return False
    if spec.record_kinds and frame.metadata.get(RECORD_KIND_KEY, "") not in spec.record_kinds:
        return False
    return not spec.excludes_metadata & keys


class ActorPool:
    """The actors of one plugin, handed out one batch at a time.

    ``start`` (or ``start_in_background``) builds every actor and waits until each has built and warmed
    up its plugin; a batch for the pool waits until then, so no frame is sent to a cold actor, and an
    actor replaced after a failure joins the idle queue only once it is warm too. A batch of n frames
    may take n times ``timeout_s``; a batch that fails in any way is tried again frame by frame, so only
    the frame that caused it goes to an officer. An actor whose batch was given up while its call ran
    (its frames agent stopped) gets no other batch until that call has ended.
    """

    UNIT = "actor"  # what hosts the plugin, in log lines
    REPLACEMENT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, RayActorError, RayTaskError)

    def __init__(
        self,
        info: PluginInfo,
        config: PluginConfig,
        actor_spec: ActorSpec,
        sensor: Sensor,
    ) -> None:
        self.info = info
        self.config = config
        self.actor_spec = actor_spec
        self.sensor = sensor
        self.modalities = routed_modalities(info, config)
        self.shadow = config.mode == "shadow"
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        self.size = max(1, config.pool_size)
        self.failure = ""  # why the pool could not get ready: its frames then go to an officer
        self.reports: list[ReadyReport] = []
        self._replacing: set[asyncio.Task[None]] = set()
        self._busy: list[Any] = []  # actors still running a call given up (``_hand_back_when_free``)
        self._freeing: set[asyncio.Task[None]] = set()
        self._launched: list[Any] = []
        self._warm: list[Any] = []  # warm actors not yet in the idle queue (``start`` ran in a thread)
        self._settled: concurrent.futures.Future[None] = concurrent.futures.Future()
        sensor.pool_sized(info.spec.name, self.size)

    def accepts(self, frame: frame_pb2.Frame) -> bool:
        return accepts(self.info, self.config, self.modalities, frame)

    @property
    def name(self) -> str:
        return self.info.spec.name

    @property
    def ready(self) -> bool:
        return not self.failure and len(self.reports) == self.size

    def _spawn(self) -> Any:
        options = RemoteHost.options(
            num_cpus=self.config.num_cpus,
            max_restarts=0,
            scheduling_strategy=self.config.scheduling_strategy,  # "SPREAD": across the cluster's nodes
        )
        return options.remote(self.actor_spec)

    def launch(self) -> None:
        """Start building the pool's actors (they build and warm up in parallel with other pools')."""
        self._launched = [self._spawn() for _ in range(self.size)]

    def start(self, timeout_s: float) -> None:
        """Wait (blocking) until each actor is warm, or the pool has failed; launch them if need be.

        Safe to call from a thread other than the event loop's: the warm actors are handed to the idle
        queue by the loop itself, when a batch first waits for them (``_until_settled``).
        """
        if not self._launched:
            self.launch()
        actors = list(self._launched)
        try:
            self.reports = list(ray.get([actor.ready.remote() for actor in actors], timeout=timeout_s))
            self._warm = actors
        except Exception as error:  # an actor died, raised, timed out, or Ray went away: the pool failed
            self.failure = one_line(error) or type(error).__name__
            log.error("plugin %s could not get ready: %s", self.name, self.failure)
            for actor in actors:
                with contextlib.suppress(Exception):  # Ray may be the thing that went away
                    ray.kill(actor, no_restart=True)
            self.sensor.pool_ready(self.name, False)
            return
        finally:
            self._launched = []
            self._settled.set_result(None)  # warm or failed: no batch waits for this pool any more
        slowest = max(report.build_s + report.warm_up_s for report in self.reports)
        self.sensor.pool_ready(self.name, True, slowest)

    def start_in_background(self, timeout_s: float, on_settled: Callable[[ActorPool], None]) -> None:
        """``start`` in a thread of its own: frames for this pool wait until it is warm, frames for the
        other pools do not, and the stream worker joins its consumer group meanwhile."""

        def run() -> None:
            self.start(timeout_s)
            on_settled(self)

        threading.Thread(target=run, name=f"warm-{self.name}", daemon=True).start()

    @property
    def settled(self) -> bool:
        """Whether the pool is warm or has failed (and so no batch waits for it any more)."""
        return self._settled.done()

    async def _until_settled(self) -> None:
        if not self._settled.done():
            await asyncio.wrap_future(self._settled)
        while self._warm:
            self.idle.put_nowait(self._warm.pop())

    async def assess(self, frames: Sequence[frame_pb2.Frame]) -> list[results_pb2.PluginResult]:
        """One PluginResult per frame, whatever happens to the plugin.

        When a batch of several frames fails, each frame is tried again alone (with the deadline of
        one frame), so one poisonous or slow frame does not send its neighbours to manual inspection. A
        frame alone whose actor died (with its node, say) is tried once more, on another actor.
        """
        await self._until_settled()
        if self.failure:
            return self._results(BatchOutcome((), 0.0, "not_ready", self.failure), len(frames))
        outcome = await self._run_batch(frames)
        if outcome.failure_reason in RETRY_ALONE and len(frames) > 1:
            singles = await asyncio.gather(*(self.assess([frame]) for frame in frames))
            return [result for (result,) in singles]
        if outcome.failure_reason == "actor_died":  # lost under it (a node died): once more, on another
            outcome = await self._run_batch(frames)
        return self._results(outcome, len(frames))

    def deadline_s(self, frames: int) -> float:
        """How long a batch may take: ``timeout_s`` per frame."""
        return self.config.timeout_s * max(1, frames)

    async def _run_batch(self, frames: Sequence[frame_pb2.Frame]) -> BatchOutcome:
        self.sensor.batch_queued(self.name, len(frames))
        queued = time.monotonic()
        actor = await self.idle.get()
        self.sensor.batch_started(self.name, len(frames))
        outcome = BatchOutcome((), 0.0, "error", "cancelled")
        healthy, given_up = True, False
        try:
            outcome, healthy = await self._call(actor, [f.SerializeToString() for f in frames])
        except asyncio.CancelledError:
            given_up = True
            raise
        finally:
            if given_up:
                self._hand_back_when_free(actor, self.deadline_s(len(frames)))
            elif healthy:
                self.idle.put_nowait(actor)
            else:
                self._replace(actor)
            self.sensor.batch_done(self.name, time.monotonic() - queued, outcome.duration_s or None)
        return outcome

    def _hand_back_when_free(self, actor: Any, within_s: float) -> None:
        """A batch was given up (its frames agent stopped) while its call may still run on ``actor``:
        cancelling the wait does not stop the call. The actor goes back to the idle queue once that call
        has ended, and is replaced if it has not ended within ``within_s``; no batch is given to it
        meanwhile, where it would wait behind the call given up."""
        self._busy.append(actor)
        task = asyncio.get_running_loop().create_task(self._when_free(actor, within_s))
        self._freeing.add(task)
        task.add_done_callback(self._freeing.discard)

    async def _when_free(self, actor: Any, within_s: float) -> None:
        try:
            await asyncio.wait_for(self._free(actor), within_s)
        except Exception as error:  # past the deadline, or the actor (or its node) is gone
            if self._no_longer_busy(actor):
                log.warning(
                    "plugin %s: a %s still on a batch given up after %g s (%s); replacing it",
                    self.name,
                    self.UNIT,
                    within_s,
                    one_line(error) or type(error).__name__,
                )
                self._replace(actor)
            return
        if self._no_longer_busy(actor):
            self.idle.put_nowait(actor)

    def _no_longer_busy(self, actor: Any) -> bool:
        """Take ``actor`` off the busy list; False when the pool's stop took it first."""
        for number, busy in enumerate(self._busy):
            if busy is actor:
                del self._busy[number]
                return True
        return False

    async def _free(self, actor: Any) -> None:
        """Done once ``actor`` has ended the call it was running: a Ray actor runs its calls one at a
        time, in order, so a call made now is answered after it."""
        await actor.ready.remote()

    async def _call(self, actor: Any, payload: list[bytes]) -> tuple[BatchOutcome, bool]:
        deadline_s = self.deadline_s(len(payload))
        try:
            return await asyncio.wait_for(actor.process.remote(payload), deadline_s), True
        except TimeoutError:
            reason, detail = "timeout", f"no answer within {deadline_s:g} s ({len(payload)} frames)"
        except RayActorError as error:
            reason, detail = "actor_died", one_line(error)
        except RayTaskError as error:
            reason, detail = "error", one_line(error)
        log.warning(
            "plugin %s failed a batch (%s): %s; replacing its %s", self.name, reason, detail, self.UNIT
        )
        return BatchOutcome((), 0.0, reason, detail), False

    def _replace(self, actor: Any) -> None:
        """Discard a failed actor; its replacement joins the idle queue once warm."""
        self._discard(actor)
        task = asyncio.get_running_loop().create_task(self._warm_replacement())
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    def _discard(self, actor: Any) -> None:
        ray.kill(actor, no_restart=True)

    def _warmed(self, replacement: Any) -> Awaitable[Any]:
        """Done once a freshly spawned actor has built and warmed up its plugin."""
        return replacement.ready.remote()  # type: ignore[no-any-return]  # a Ray ObjectRef is awaitable

    async def _warm_replacement(self) -> None:
        replacement = self._spawn()
        try:
            await asyncio.wait_for(self._warmed(replacement), self.config.ready_timeout_s)
        except self.REPLACEMENT_ERRORS as error:
            log.error(
                "plugin %s: a replacement %s could not get ready: %s", self.name, self.UNIT, one_line(error)
            )
        self.idle.put_nowait(replacement)  # if it is broken, its next batch fails and replaces it again

    def _results(self, outcome: BatchOutcome, count: int) -> list[results_pb2.PluginResult]:
        spec = self.info.spec
        if outcome.failure_reason:
            reason = outcome.failure_reason
            self.sensor.plugin_failed(self.name, reason)
            return [failed_result(spec.name, spec.version, reason, outcome.failure) for _ in range(count)]
        results = [results_pb2.PluginResult.FromString(raw) for raw in outcome.results]
        for result in results:
            result.duration_seconds = outcome.duration_s
            self.sensor.plugin_assessed(self.name, Decision.from_proto(result.decision))
        return results

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Run each idle actor's shutdown hook (bounded), then end the actors."""
        cancel_on_open_loops([*self._replacing, *self._freeing])
        actors, self._warm = list(self._warm), []
        while not self.idle.empty():
            actors.append(self.idle.get_nowait())
        actors, self._busy = [*actors, *self._busy], []  # a busy one's shutdown waits behind its call
        if actors:
            calls = asyncio.gather(*(actor.shutdown.remote() for actor in actors), return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(calls, timeout_s)
        for actor in [*actors, *self._launched]:  # launched: still warming up when the worker stops
            ray.kill(actor, no_restart=True)


def cancel_on_open_loops(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel a pool's background tasks at its stop. The worker stops its pools on a loop of their own
    once Faust's has closed; a task left pending there cannot be cancelled (the closed loop refuses the
    callback) and never runs again."""
    for task in tasks:
        if not task.get_loop().is_closed():
            task.cancel()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MODULE_PATH = re.compile(r"^(?:\w+\.)+(?=\w+:)")


def one_line(error: BaseException) -> str:
    """What went wrong, in one line: for an error raised inside a Ray actor (its message ends with the
    remote traceback), the exception's own last line, e.g. ``FileNotFoundError: ... is missing``."""
    lines = [line.strip() for line in _ANSI.sub("", str(error)).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    line = lines[-1] if isinstance(error, RayActorError | RayTaskError) else lines[0]
    return _MODULE_PATH.sub(
        "", line
    )  # "smartcustoms.core.artefacts.ArtefactError: ..." -> "ArtefactError: ..."


class Dispatcher:
    """Routes each frame to the pools that accept it and combines their results into verdicts.

    Pools in shadow mode see the same frames; their results travel beside the verdict and never
    change its decision.
    """

    def __init__(self, pools: Sequence[ActorPool]) -> None:
        self.pools = list(pools)
        self.config_hash = config_hash(self.pools)

    async def decide(self, frames: Sequence[frame_pb2.Frame]) -> list[results_pb2.Verdict]:
        """A verdict for each distinct frame of the batch (redelivered copies are merged)."""
        unique = list({frame.frame_id: frame for frame in frames}.values())
        live: dict[str, list[results_pb2.PluginResult]] = defaultdict(list)
        shadow: dict[str, list[results_pb2.PluginResult]] = defaultdict(list)
        jobs = []
        for pool in self.pools:
            mine = [f for f in unique if pool.accepts(f)]
            step = max(1, pool.config.batch_max_frames)
            into = shadow if pool.shadow else live
            jobs += [self._run(pool, mine[i : i + step], into) for i in range(0, len(mine), step)]
        await asyncio.gather(*jobs)
        decided = [
            verdicts.combine(frame, live[frame.frame_id], shadow=shadow[frame.frame_id]) for frame in unique
        ]
        for verdict in decided:
            verdict.config_hash = self.config_hash
        return decided

    @staticmethod
    async def _run(
        pool: ActorPool, frames: list[frame_pb2.Frame], results: dict[str, list[results_pb2.PluginResult]]
    ) -> None:
        for frame, result in zip(frames, await pool.assess(frames), strict=True):
            results[frame.frame_id].append(result)

    async def stop(self) -> None:
        await asyncio.gather(*(pool.stop() for pool in self.pools))


def config_hash(pools: Sequence[ActorPool]) -> str:
    """SHA-256 of the configuration of every pool (plugin, version, settings, mode, batching), as
    canonical JSON: the audit trail names with it the configuration that produced a verdict."""
    described = sorted(
        (
            {
                "plugin": pool.info.spec.name,
                "version": pool.info.spec.version,
                # where it runs, as resolved: the configured placement, else its spec's
                "config": {
                    **asdict(pool.config),
                    "placement": pool.config.placement or pool.info.spec.placement,
                },
            }
            for pool in pools
        ),
        key=lambda entry: str(entry["plugin"]),
    )
    text = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
