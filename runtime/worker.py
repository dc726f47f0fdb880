"""The stream worker: a Faust app that takes frames from the modality topics in micro-batches,
has them assessed on Ray, publishes verdicts, and stores verdicts through the sink.

Measured traps it avoids (see INFRA_NOTES): Ray is initialised before the Faust worker replaces
stdout and installs its signal handlers; streams do not wait to be empty on stop; every batch is
awaited before the next is taken, so an acknowledged offset always has its verdict published.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
import ray
import redis.asyncio as aioredis
from faust.transport.drivers import aiokafka as faust_aiokafka
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, start_http_server

from smartcustoms.core.blobstore import open_blob_store
from smartcustoms.core.config import Config
from smartcustoms.core.manager import PluginInfo, load_plugins, new_plugin_manager
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime.dispatch import ActorPool, Dispatcher
from smartcustoms.runtime.gateway_process import ledger_for
from smartcustoms.runtime.sink import VerdictSink
from smartcustoms.runtime.topics import (
    all_topics,
    dead_letter_topic,
    ensure_topics,
    frames_topic,
    verdicts_topic,
)
from smartcustoms.v1 import frame_pb2, results_pb2

log = logging.getLogger(__name__)

SINK_BATCH = 500


def enabled_plugins(config: Config, infos: list[PluginInfo]) -> list[PluginInfo]:
    chosen = []
    for info in infos:
        wanted = config.plugin(info.spec.name).enabled
        if wanted if wanted is not None else info.spec.enabled_by_default:
            chosen.append(info)
    return chosen


def store_spec(config: Config) -> dict[str, Any]:
    return {
        "kind": config.blobstore.kind,
        "namespace": config.namespace,
        "shm_root": config.blobstore.shm_root,
        "redis_url": config.redis.url,
    }


class WorkerRuntime:
    """Everything the agents share, built before Faust starts."""

    def __init__(self, config: Config, registry: CollectorRegistry) -> None:
        self.config = config
        self.sensor = Sensor(Metrics(registry))
        self.pm = new_plugin_manager()
        self.plugins = enabled_plugins(config, load_plugins(self.pm, extra=config.extra_plugins))
        wanted = {info.spec.name for info in self.plugins}
        for plugin in list(self.pm.get_plugins()):
            if self.pm.get_name(plugin) not in wanted:
                self.pm.unregister(plugin)
        self.store = open_blob_store(**store_spec(config))
        self.pools: list[ActorPool] = []
        self.dispatcher = Dispatcher([])

    def configure_plugins(self) -> None:
        """Give every enabled plugin its settings in this process (for result hooks)."""
        for info in self.plugins:
            settings = {**info.spec.default_settings, **self.config.plugin(info.spec.name).settings}
            plugin = self.pm.get_plugin(info.spec.name)
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            self.pm.subset_hook_caller("smartcustoms_configure", others)(settings=settings)
        self.pm.hook.smartcustoms_runtime_started.call_historic(kwargs={"config": self.config.to_dict()})

    def start_pools(self) -> None:
        self.pools = [
            ActorPool(info, self.config.plugin(info.spec.name), store_spec(self.config), self.sensor)
            for info in self.plugins
            if info.processes_frames
        ]
        self.dispatcher = Dispatcher(self.pools)


def shorten_fetch_wait(max_wait_ms: int) -> None:
    """Make Faust's consumers wait at most ``max_wait_ms`` per fetch instead of its fixed 1500 ms.

    Faust hard-codes ``fetch_max_wait_ms=1500`` for aiokafka. A broker that answers an empty fetch
    only when that wait runs out (tansu does) then adds up to 1.5 s to every hop; a short wait keeps
    latency to milliseconds and costs a few more empty fetches when idle.
    """
    thread_class = faust_aiokafka.AIOKafkaConsumerThread

    def create(self: Any, transport: Any) -> Any:
        consumer = thread_class._create_worker_consumer(self, transport)
        consumer._fetch_max_wait_ms = max_wait_ms  # read by aiokafka when the consumer starts
        return consumer

    shortened = type("ShortFetchConsumerThread", (thread_class,), {"_create_worker_consumer": create})

    def new_thread(consumer: Any) -> Any:
        return shortened(consumer, loop=consumer.loop, beacon=consumer.beacon)

    faust_aiokafka.Consumer._new_consumer_thread = new_thread  # type: ignore[method-assign,assignment]  # the patch described above


def create_app(config: Config, runtime: WorkerRuntime) -> faust.App:
    """The Faust app: one agent per modality topic and one for verdicts."""
    broker = config.broker
    shorten_fetch_wait(broker.fetch_max_wait_ms)
    app = faust.App(
        f"{config.namespace}-worker",
        broker=[f"kafka://{h}" for h in broker.bootstrap_servers.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=broker.partitions,
        topic_disable_leader=True,
        stream_wait_empty=False,
        web_enabled=False,
        store="memory://",
        broker_session_timeout=broker.session_timeout_s,
        broker_heartbeat_interval=broker.heartbeat_interval_s,
        broker_commit_interval=1.0,
        producer_max_request_size=broker.max_message_bytes * 4,
        consumer_max_fetch_size=broker.max_message_bytes * 4,
        autodiscover=False,
        datadir=str(Path(config.run_dir) / "faust"),
        producer_acks=1,
    )
    verdicts = app.topic(verdicts_topic(config.namespace), value_type=bytes, internal=False)
    dead_letters = app.topic(dead_letter_topic(config.namespace), value_type=bytes, internal=False)
    ledger_holder: dict[str, Any] = {}

    async def ledger() -> Any:
        if "ledger" not in ledger_holder:
            ledger_holder["ledger"] = ledger_for(config, aioredis.Redis.from_url(config.redis.url))
        return ledger_holder["ledger"]

    for modality in Modality:
        topic = app.topic(frames_topic(config.namespace, modality), value_type=bytes, internal=False)
        agent = _frames_agent(config, runtime, modality, verdicts, dead_letters)
        app.agent(topic, name=f"frames-{modality.value}")(agent)

    async def verdict_agent(stream: Any) -> AsyncIterator[None]:
        sink = VerdictSink(await ledger(), runtime.store, runtime.pm, runtime.sensor)
        async for batch in stream.take(SINK_BATCH, within=config.worker.batch_window_ms / 1000):
            for bad in await sink.store_batch(batch):
                runtime.sensor.dead_lettered("bad_verdict")
                await dead_letters.send(value=bad, headers={"reason": b"bad_verdict"})
            yield None

    app.agent(verdicts, name="verdicts")(verdict_agent)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust types receivers as (*args, signal=...)
    async def on_assigned(app: faust.App, assigned: set[Any], **_: Any) -> None:
        runtime.sensor.partitions_assigned(len(assigned))

    return app


def _frames_agent(
    config: Config, runtime: WorkerRuntime, modality: Modality, verdicts: Any, dead_letters: Any
) -> Any:
    window_s = config.worker.batch_window_ms / 1000

    async def agent(stream: Any) -> AsyncIterator[None]:
        async for batch in stream.take(config.worker.batch_max_frames, within=window_s):
            frames = []
            for raw in batch:
                try:
                    frames.append(frame_pb2.Frame.FromString(raw))
                except DecodeError:
                    runtime.sensor.dead_lettered("bad_frame")
                    await dead_letters.send(value=raw, headers={"reason": b"bad_frame"})
            await _handle(runtime, modality, frames, verdicts)
            yield None

    return agent


async def _handle(
    runtime: WorkerRuntime, modality: Modality, frames: list[frame_pb2.Frame], verdicts: Any
) -> None:
    if not frames:
        return
    now = time.time()
    runtime.sensor.batch_consumed(modality.value, len(frames))
    for frame in frames:
        runtime.sensor.stream_delay(modality.value, now - frame.accepted_time.ToNanoseconds() / 1e9)
    decided = await runtime.dispatcher.decide(frames)
    batch = results_pb2.VerdictBatch(verdicts=decided)
    await (await verdicts.send(key=frames[0].source_id.encode(), value=batch.SerializeToString()))
    runtime.sensor.verdicts_published(modality.value, len(decided))


def init_ray(config: Config) -> None:
    """Join the configured Ray cluster, or start a local one (never attach to a stray cluster)."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if config.ray.address:
        ray.init(address=config.ray.address, log_to_driver=False)
        return
    ray.init(
        address="local",
        num_cpus=config.ray.num_cpus or None,
        include_dashboard=False,
        object_store_memory=config.ray.object_store_memory_bytes,
        log_to_driver=False,
    )


def main(config: Config) -> None:
    """Run the worker until SIGTERM/SIGINT; Ray is shut down after the agents stopped."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(levelname)s %(message)s")
    registry = CollectorRegistry()
    metrics_server, metrics_thread = start_http_server(
        config.worker.metrics_port, config.gateway.host, registry=registry
    )
    runtime = WorkerRuntime(config, registry)
    asyncio.run(
        ensure_topics(config.broker.bootstrap_servers, all_topics(config.namespace), config.broker.partitions)
    )  # the broker may have restarted empty
    init_ray(config)
    runtime.configure_plugins()
    runtime.start_pools()
    app = create_app(config, runtime)
    worker = faust.Worker(app, loglevel="warn", redirect_stdouts=False, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        runtime.pm.hook.smartcustoms_shutdown()
        asyncio.run(runtime.dispatcher.stop())
        ray.shutdown()
        runtime.store.close()
        metrics_server.shutdown()
        metrics_thread.join(timeout=2)
