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

from smartcustoms.core import artefacts
from smartcustoms.core import config as config_module
from smartcustoms.core.artefacts import ROOT_ENV as ARTEFACTS_ENV
from smartcustoms.core.config import Config
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack, with_free_ports
from smartcustoms.runtime.testing import (  # noqa: F401  (session fixtures)
    broker,
    config_on_services,
    ray_head,
    redis_service,
    services_dir,
)

TESTS_DIR = Path(__file__).parent
FIXTURE_PLUGINS = TESTS_DIR / "fixture_plugins"
sys.path.insert(0, str(FIXTURE_PLUGINS))  # test plugins and models, importable by tests and by Ray workers


# One Ray runtime for the session: its workers must import the test plugins, so the path goes in first.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FIXTURE_PLUGINS), os.environ.get("PYTHONPATH")]))

# The built-in detectors load their reference data from artefacts: `make test` builds them under
# .smartcustoms/artefacts and points here; a bare `pytest` uses (and if need be builds) the same place.
# Set but empty is unset, as for the runtime (``core.artefacts.default_root``): never the current directory.
if not os.environ.get(ARTEFACTS_ENV):
    os.environ[ARTEFACTS_ENV] = str(TESTS_DIR.parent / ".smartcustoms" / "artefacts")


@pytest.fixture(scope="session", autouse=True)
def builtin_artefacts() -> None:
    """The artefacts the runtime's built-in plugins load, built from the simulator if missing."""
    from smartcustoms.plugins.cargo_risk.tools.build import build_from_simulator as build_cargo_model
    from smartcustoms.plugins.liquor.tools.build import build as build_liquor_labels
    from smartcustoms.plugins.vehicle.tools.build import build as build_vehicle_references
    from smartcustoms.plugins.vehicle_risk.tools.build import build as build_vehicle_risk_model
    from smartcustoms.plugins.xray.tools.build import build_from_simulator as build_xray_library

    root = Path(os.environ[ARTEFACTS_ENV])
    builders = {
        "xray-library": build_xray_library,
        "vehicle-references": build_vehicle_references,
        "cargo-risk-model": build_cargo_model,
        "vehicle-risk-model": build_vehicle_risk_model,
        "liquor-labels": build_liquor_labels,
    }
    for name, build in builders.items():
        try:
            artefacts.read(root / name, expected_name=name, verify=False)
        except artefacts.ArtefactError:
            build(root / name)


@pytest.fixture
def runtime_config(
    tmp_path: Path, broker: EmbeddedBroker, redis_service: EmbeddedRedis, ray_head: EmbeddedRay
) -> Config:
    """A configuration on the session's services, in a namespace of its own, on free ports. The enquiry
    assistant is built on its first question rather than at the gateway's start (about 2 s a start on
    two cores): the demo test runs the default, tests/runtime/test_enquiry_service.py the setting."""
    config = config_on_services(broker, redis_service, ray_head, tmp_path / "run", tmp_path / "shm")
    config.gateway.enquiry_warm_up = False
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


@pytest.fixture
def gateway_alone(
    tmp_path: Path, broker: EmbeddedBroker, redis_service: EmbeddedRedis, start_stack: Callable[..., Stack]
) -> Stack:
    """A gateway without a worker (so no Ray) on the session's broker and Redis, in a namespace of its
    own: for the services and pages that live in the gateway (search reports, desks, queue, enquiries,
    evidence)."""
    config = with_free_ports(config_module.load(environ={}))
    config.namespace = f"gw{uuid.uuid4().hex[:10]}"
    config.run_dir = str(tmp_path / "run")
    config.broker.bootstrap_servers = broker.bootstrap_servers
    config.redis.url = redis_service.url
    (tmp_path / "shm").mkdir()
    config.blobstore.shm_root = str(tmp_path / "shm")
    config.gateway.officer_auth = False  # the page tests type an officer's name; test_officer_auth logs in
    # built on the first question instead: the fuzz test's RSS is of refused frames, not of the assistant
    # being built beside them (the default, building it at start, runs in the demo test)
    config.gateway.enquiry_warm_up = False
    return start_stack(config, worker=False)
