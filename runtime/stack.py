"""The whole runtime on one machine: embedded services where no endpoint is configured, a gateway
process and a worker process, each started until ready and stopped within a deadline."""

from __future__ import annotations

import contextlib
import shutil
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
from smartcustoms.runtime.ray_auth import ensure_token, local_token_path, token_env
from smartcustoms.runtime.readiness import PipelineError, report_field, worker_ready
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRedis
from smartcustoms.runtime.tls import tools_credentials

__all__ = ["PipelineError", "Stack", "gateway_serving", "pipeline_serving", "with_free_ports"]

GATEWAY_READY_S = 60.0
WORKER_READY_S = 300.0  # the worker's plugins build and warm up before it reports ready
INGEST_SERVICE = "smartcustoms.v1.IngestService"


def gateway_serving(
    target: str, service: str = INGEST_SERVICE, credentials: grpc.ChannelCredentials | None = None
) -> bool:
    """True when the gateway's standard health service answers SERVING for ``service``: by default
    the ingest service (the gateway accepts frames); ``""`` is the whole pipeline (every plugin warm).
    ``credentials`` for a gateway serving TLS (``GatewayConfig.tools_credentials``)."""
    try:
        channel = (
            grpc.insecure_channel(target) if credentials is None else grpc.secure_channel(target, credentials)
        )
        with channel:
            request = health_pb2.HealthCheckRequest(service=service)
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=1.0)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def pipeline_serving(target: str, credentials: grpc.ChannelCredentials | None = None) -> bool:
    """True when the gateway reports the pipeline ready: every enabled plugin pool is warm."""
    return gateway_serving(target, "", credentials)


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
        self.broker: EmbeddedBroker | None = None
        self.redis: EmbeddedRedis | None = None
        self.gateway: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None

    @property
    def gateway_target(self) -> str:
        return f"{self.config.gateway.host}:{self.config.gateway.port}"

    @property
    def review_url(self) -> str:
        scheme = "https" if self.config.gateway.tls_cert else "http"
        return f"{scheme}://{self.config.gateway.review_bind}:{self.config.gateway.review_port}/"

    @property
    def metrics_urls(self) -> list[str]:
        host = self.config.gateway.metrics_bind
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
            self.gateway = self.processes.start(self._child("gateway"))
            self.gateway.wait_ready(
                lambda: gateway_serving(
                    self.gateway_target, credentials=tools_credentials(self.config.gateway)
                ),
                GATEWAY_READY_S,
            )
            if worker:
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_infrastructure(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.config.broker.bootstrap_servers:
            self.broker = self.processes.start(EmbeddedBroker(self.run_dir, self.config.broker.embedded_port))
            self.config.broker.bootstrap_servers = self.broker.bootstrap_servers
        if not self.config.redis.url:
            self.redis = self.processes.start(EmbeddedRedis(self.run_dir, self.config.redis.embedded_port))
            self.config.redis.url = self.redis.url

    def _child(self, role: str) -> ManagedProcess:
        stop_timeout_s = (
            self.config.gateway.stop_grace_s + 10 if role == "gateway" else self.config.worker.stop_timeout_s
        )
        return ManagedProcess(
            role,
            [
                sys.executable,
                "-m",
                "smartcustoms.runtime.cli",
                role,
                "--config",
                str(self.run_dir / "config.json"),
            ],
            log_path=self.run_dir / f"{role}.log",
            stop_timeout_s=stop_timeout_s,
            env={
                "RAY_TMPDIR": _ray_tmpdir(self.run_dir),
                "RAY_USAGE_STATS_ENABLED": "0",
                **self._ray_token_env(),
            },
        )

    def _ray_token_env(self) -> dict[str, str]:
        """Ray's token for the children: the cluster's (``ray.auth_token_path``), else the local one's."""
        ray = self.config.ray
        if ray.address and not ray.auth_token_path:
            return {}  # an external cluster's own settings (RAY_AUTH_MODE, ~/.ray/auth_token) apply
        return token_env(ensure_token(local_token_path(ray.auth_token_path, str(self.run_dir))))

    def start_worker(self) -> ManagedProcess:
        self.worker = self.processes.start(self._child("worker"))
        self.worker.wait_ready(self._pipeline_ready, WORKER_READY_S)
        return self.worker

    def running(self) -> dict[str, bool]:
        """Whether each process this stack started is alive, by role (embedded services only if started)."""
        children = {
            "broker": self.broker,
            "redis": self.redis,
            "gateway": self.gateway,
            "worker": self.worker,
        }
        return {role: child.running for role, child in children.items() if child is not None}

    def restart(self, role: str) -> None:
        """Reap what is left of ``role`` (its whole process group, so a dead worker's Ray processes too)
        and start it again on the same ports and data; return once it is ready again."""
        if role in ("broker", "redis"):
            service = self.broker if role == "broker" else self.redis
            if service is None:
                raise ValueError(f"{role} is external to this stack: it is not restarted here")
            service.stop(0)
            service.start()
            return
        old = self.gateway if role == "gateway" else self.worker
        if old is None:
            raise ValueError(f"this stack started no {role}")
        old.stop(0)
        if role == "worker":
            self._forget_worker(old.pid)
        new = self.processes.replace(old, self._child(role))
        if role == "gateway":
            self.gateway = new
            new.wait_ready(
                lambda: gateway_serving(
                    self.gateway_target, credentials=tools_credentials(self.config.gateway)
                ),
                GATEWAY_READY_S,
            )
        else:
            self.worker = new
            new.wait_ready(self._pipeline_ready, WORKER_READY_S)

    def _pipeline_ready(self) -> bool:
        """Ready when this stack's worker reports itself ready and the gateway says the pipeline is; a
        plugin pool of this worker that failed to start fails the start at once. Only the worker's own
        report counts: a failed report left in Redis by an earlier run must not fail this one."""
        assert self.worker is not None
        try:
            with redis.Redis.from_url(self.config.redis.url, socket_timeout=2.0) as client:
                reports = client.hgetall(readiness_key(self.config.namespace))
        except redis.RedisError:
            return False  # Redis is away (restarting): not ready yet
        ready, why = worker_ready(reports, self.worker.pid, time.time())
        if ready:
            return pipeline_serving(self.gateway_target, tools_credentials(self.config.gateway))
        if why.startswith("plugin pools failed"):
            raise PipelineError(f"the stream worker cannot decide frames: {why}")
        return False

    def _forget_worker(self, pid: int | None) -> None:
        """Drop a dead worker's readiness report, so the gateway's health says at once that no worker
        decides frames rather than trusting the report until it goes stale."""
        with (
            contextlib.suppress(redis.RedisError),
            redis.Redis.from_url(self.config.redis.url, socket_timeout=2.0) as client,
        ):
            client.hdel(readiness_key(self.config.namespace), report_field(pid))

    def stop_worker(self, timeout_s: float | None = None) -> int | None:
        return None if self.worker is None else self.worker.stop(timeout_s)

    def stop(self) -> None:
        """Worker first (it drains), then gateway, then Redis and the broker."""
        with contextlib.suppress(Exception):
            self.stop_worker()
        try:
            self.processes.stop()
        finally:
            shutil.rmtree(_ray_tmpdir(self.run_dir), ignore_errors=True)  # Ray's session files

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
