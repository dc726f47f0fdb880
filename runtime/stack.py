"""The whole runtime on one machine: embedded services where no endpoint is configured, a gateway
process and a worker process, each started until ready and stopped within a deadline."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import urllib.error
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from smartcustoms.core.config import Config
from smartcustoms.core.keys import readiness_key
from smartcustoms.runtime.process import ManagedProcess, ProcessStack
from smartcustoms.runtime.readiness import PipelineError, pipeline_ready
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRedis

__all__ = ["PipelineError", "Stack", "gateway_serving", "pipeline_serving", "with_free_ports"]

GATEWAY_READY_S = 60.0
WORKER_READY_S = 300.0  # the worker's plugins build and warm up before it reports ready
INGEST_SERVICE = "smartcustoms.v1.IngestService"


def gateway_serving(target: str, service: str = INGEST_SERVICE) -> bool:
    """True when the gateway's standard health service answers SERVING for ``service``: by default
    the ingest service (the gateway accepts frames); ``""`` is the whole pipeline (every plugin warm)."""
    try:
        with grpc.insecure_channel(target) as channel:
            request = health_pb2.HealthCheckRequest(service=service)
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=1.0)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def pipeline_serving(target: str) -> bool:
    """True when the gateway reports the pipeline ready: every enabled plugin pool is warm."""
    return gateway_serving(target, "")


def worker_joined(metrics_url: str) -> bool:
    """True when the worker's consumer group gave it its partitions."""
    try:
        return total(scrape(metrics_url, timeout_s=1.0), "smartcustoms_stream_assigned_partitions") > 0
    except (OSError, urllib.error.URLError):
        return False


class Stack:
    """Embedded broker and Redis (unless configured), gateway, worker; ``stop()`` in reverse order."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir).absolute()
        self.processes = ProcessStack()
        self.gateway: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None

    @property
    def gateway_target(self) -> str:
        return f"{self.config.gateway.host}:{self.config.gateway.port}"

    @property
    def review_url(self) -> str:
        return f"http://{self.config.gateway.host}:{self.config.gateway.review_port}/"

    @property
    def metrics_urls(self) -> list[str]:
        host = self.config.gateway.host
        return [
            f"http://{host}:{self.config.gateway.metrics_port}/metrics",
            f"http://{host}:{self.config.worker.metrics_port}/metrics",
        ]

    def start(self, *, worker: bool = True) -> Self:
        """Start everything (or all but the worker, to exercise the gateway alone)."""
        try:
            self._start_infrastructure()
            config_path = self.run_dir / "config.json"
            config_path.write_text(self.config.to_json())
            self.gateway = self._start_child("gateway", config_path, self.config.gateway.stop_grace_s + 10)
            self.gateway.wait_ready(lambda: gateway_serving(self.gateway_target), GATEWAY_READY_S)
            if worker:
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_infrastructure(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.config.broker.bootstrap_servers:
            broker = self.processes.start(EmbeddedBroker(self.run_dir, self.config.broker.embedded_port))
            self.config.broker.bootstrap_servers = broker.bootstrap_servers
        if not self.config.redis.url:
            redis = self.processes.start(EmbeddedRedis(self.run_dir, self.config.redis.embedded_port))
            self.config.redis.url = redis.url

    def _start_child(self, role: str, config_path: Path, stop_timeout_s: float) -> ManagedProcess:
        process = ManagedProcess(
            role,
            [sys.executable, "-m", "smartcustoms.runtime.cli", role, "--config", str(config_path)],
            log_path=self.run_dir / f"{role}.log",
            stop_timeout_s=stop_timeout_s,
            env={
                "RAY_TMPDIR": _ray_tmpdir(self.run_dir),
                "RAY_USAGE_STATS_ENABLED": "0",
                "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
            },
        )
        return self.processes.start(process)

    def start_worker(self) -> ManagedProcess:
        config_path = self.run_dir / "config.json"
        self.worker = self._start_child("worker", config_path, self.config.worker.stop_timeout_s)
        self.worker.wait_ready(self._pipeline_ready, WORKER_READY_S)
        return self.worker

    def _pipeline_ready(self) -> bool:
        """Ready when the gateway says so; a plugin pool that failed to start fails the start at once."""
        if pipeline_serving(self.gateway_target):
            return True
        with redis.Redis.from_url(self.config.redis.url, socket_timeout=2.0) as client:
            ready, why = pipeline_ready(client.hgetall(readiness_key(self.config.namespace)), time.time())
        if not ready and why.startswith("plugin pools failed"):
            raise PipelineError(f"the stream worker cannot decide frames: {why}")
        return False

    def stop_worker(self, timeout_s: float | None = None) -> int | None:
        return None if self.worker is None else self.worker.stop(timeout_s)

    def stop(self) -> None:
        """Worker first (it drains), then gateway, then Redis and the broker."""
        with contextlib.suppress(Exception):
            self.stop_worker()
        self.processes.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _ray_tmpdir(run_dir: Path) -> str:
    """Ray's socket paths must stay short: keep its files under /tmp, named after the run dir."""
    import hashlib

    return f"/tmp/scray-{hashlib.sha1(str(run_dir).encode()).hexdigest()[:8]}"


def with_free_ports(config: Config) -> Config:
    """The same configuration with every port it would listen on replaced by a free one (tests, benches)."""
    from smartcustoms.runtime.process import free_port

    config.broker.embedded_port = free_port()
    config.redis.embedded_port = free_port()
    config.gateway.port = free_port()
    config.gateway.metrics_port = free_port()
    config.gateway.review_port = free_port()
    config.worker.metrics_port = free_port()
    return config
