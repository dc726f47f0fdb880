"""Session-wide services for integration tests: one broker, one Redis, one Ray runtime.

Each test that needs the whole runtime gets its own namespace (topics, Redis keys, blob dir) on
those shared services, and its own gateway and worker processes.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartcustoms.core import config as config_module
from smartcustoms.core.config import Config
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack, with_free_ports

TESTS_DIR = Path(__file__).parent
FIXTURE_PLUGINS = TESTS_DIR / "fixture_plugins"
sys.path.insert(0, str(FIXTURE_PLUGINS))  # test plugins and models, importable by tests and by Ray workers


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def broker(session_dir: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(session_dir / "broker") as service:
        yield service


@pytest.fixture(scope="session")
def redis_service(session_dir: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(session_dir / "redis", persistence=False) as service:
        yield service


@pytest.fixture(scope="session")
def ray_head(session_dir: Path) -> Iterator[EmbeddedRay]:
    """One Ray runtime for the session; its workers can import the test plugins."""
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(FIXTURE_PLUGINS), os.environ.get("PYTHONPATH")])
    )
    with EmbeddedRay(session_dir / "ray", num_cpus=2) as service:
        yield service


@pytest.fixture
def runtime_config(
    tmp_path: Path, broker: EmbeddedBroker, redis_service: EmbeddedRedis, ray_head: EmbeddedRay
) -> Config:
    """A configuration on the session's services, in a namespace of its own, on free ports."""
    config = with_free_ports(config_module.load(environ={}))
    config.namespace = f"t{uuid.uuid4().hex[:10]}"
    config.run_dir = str(tmp_path / "run")
    config.broker.bootstrap_servers = broker.bootstrap_servers
    config.redis.url = redis_service.url
    config.ray.address = ray_head.address
    config.blobstore.shm_root = str(tmp_path / "shm")
    Path(config.blobstore.shm_root).mkdir()
    return config


@pytest.fixture
def start_stack() -> Iterator[Callable[..., Stack]]:
    """Start a gateway and a worker for a configuration; everything stops at the end of the test."""
    stacks: list[Stack] = []

    def start(config: Config, *, worker: bool = True) -> Stack:
        stack = Stack(config)
        stacks.append(stack)
        return stack.start(worker=worker)

    yield start
    for stack in reversed(stacks):
        stack.stop()
