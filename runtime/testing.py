"""pytest fixtures for real services, shared by the test suite and the benchmarks: one broker, one
Redis and one Ray runtime per session, each stopped by pid with a deadline at the end.

    from smartcustoms.runtime.testing import broker, ray_head, redis_service, services_dir  # fixtures

Tests that need the runtime build a configuration on them with ``config_on_services``: its own
namespace (topics, Redis keys, blob directory) and free ports, so tests share the services safely.
``restart_gateway`` kills or stops a stack's gateway and starts a new one on the same port.
``fake_gateway`` is an ingest server that only assembles and acknowledges frames, for unit tests of
what a client sends. ``ct_frame`` makes a small CT frame that the test plugin ``sleepy`` sleeps over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core import config as config_module
from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.manager import discover_plugins
from smartcustoms.core.types import Modality
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack, with_free_ports
from smartcustoms.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def broker(services_dir: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(services_dir / "broker") as service:
        yield service


@pytest.fixture(scope="session")
def redis_service(services_dir: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(services_dir / "redis", persistence=False) as service:
        yield service


@pytest.fixture(scope="session")
def ray_head(services_dir: Path) -> Iterator[EmbeddedRay]:
    """Its workers inherit this process's environment (PYTHONPATH included) as it is at start."""
    with EmbeddedRay(services_dir / "ray", num_cpus=os.cpu_count() or 2) as service:
        yield service


def config_on_services(
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
    run_dir: Path,
    shm_root: Path,
    namespace_prefix: str = "t",
) -> Config:
    """Embedded defaults pointed at the session's services, in a namespace of its own, on free ports."""
    config = with_free_ports(config_module.load(environ={}))
    config.namespace = f"{namespace_prefix}{uuid.uuid4().hex[:10]}"
    config.run_dir = str(run_dir)
    config.broker.bootstrap_servers = broker.bootstrap_servers
    config.redis.url = redis_service.url
    config.ray.address = ray_head.address
    config.ray.auth_token_path = str(ray_head.auth_token_path)
    shm_root.mkdir(parents=True, exist_ok=True)
    config.blobstore.shm_root = str(shm_root)
    config.gateway.officer_auth = False  # tests/integration/test_officer_auth.py turns it on
    return config


def only_plugins(config: Config, *names: str) -> Config:
    """``config`` with every built-in (and installed) plugin that processes frames but ``names``
    disabled, and those enabled, each keeping the rest of its configuration; result plugins and
    ``extra_plugins`` stay as configured. A test about one plugin, or about the runtime, starts the
    actors it needs rather than the default set's fifteen pools."""
    for info in discover_plugins():
        name = info.spec.name
        if not info.processes_frames:
            continue
        current = config.plugins.get(name, PluginConfig())
        current.enabled = name in names and current.enabled is not False
        config.plugins[name] = current
    return config


def ct_frame(
    sequence: int, *, sleep_s: float = 0.0, source_id: str = "ct-1", frame_id: str = ""
) -> frame_pb2.Frame:
    """A small CT frame (id ``frame_id``, or ``ct-<sequence>``) that the test plugin
    ``sc_fixture_plugins:sleepy`` takes ``sleep_s`` seconds over."""
    return array_frame(
        np.zeros((2, 2, 2), np.int16),
        modality=Modality.CT,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id or f"ct-{sequence}",
        metadata={"sleep_s": str(sleep_s)},
    )


def restart_gateway(stack: Stack, *, kill: bool) -> None:
    """Stop the gateway (SIGKILL, or SIGTERM and its grace period), then start a new one on the same
    config.json and port; the stack stops it at the end of the test."""
    assert stack.gateway is not None
    stack.gateway.stop(timeout_s=0 if kill else None)
    stack.restart("gateway")


async def grpc_code(call: Awaitable[object]) -> str:
    """The name of the status an asyncio gRPC call ends with: "OK", "UNAUTHENTICATED", ..."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return str(error.code().name)
    return "OK"


async def ledger_settled(config: Config, accepted: int, timeout_s: float = 60.0) -> Counts:
    """The ledger's counts once at least ``accepted`` frames were accepted and none is in flight;
    AssertionError after ``timeout_s``."""
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            counts = await ledger.counts()
            if counts.accepted >= accepted and counts.in_flight == 0:
                return counts
            assert time.monotonic() < deadline, f"not settled within {timeout_s:g} s: {counts}"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


class FakeGateway(ingest_pb2_grpc.IngestServiceServicer):
    """Assembles chunked frames and acknowledges each (no ledger, no broker); ``frames`` as received,
    each with the time it was complete in ``received_s``."""

    def __init__(self) -> None:
        self.frames: list[frame_pb2.Frame] = []
        self.received_s: list[float] = []
        self._lock = threading.Lock()

    def StreamFrames(  # the generated gRPC method name
        self, request_iterator: Iterator[ingest_pb2.FrameChunk], context: grpc.ServicerContext
    ) -> Iterator[ingest_pb2.IngestAck]:
        headers: dict[str, frame_pb2.Frame] = {}
        for chunk in request_iterator:
            if chunk.index == 0:
                headers[chunk.frame_id] = frame_pb2.Frame()
                headers[chunk.frame_id].CopyFrom(chunk.header)
            frame = headers[chunk.frame_id]
            frame.payload += chunk.data
            if chunk.last:
                with self._lock:
                    self.frames.append(headers.pop(chunk.frame_id))
                    self.received_s.append(time.time())
                yield ingest_pb2.IngestAck(frame_id=chunk.frame_id, source_id=frame.source_id, code=0)


@contextlib.contextmanager
def fake_gateway() -> Iterator[tuple[str, FakeGateway]]:
    """A ``FakeGateway`` on a free loopback port: (its address, the servicer)."""
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    servicer = FakeGateway()
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None).wait()
