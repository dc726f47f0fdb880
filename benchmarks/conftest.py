"""Session services for the benchmarks: one broker, one Redis, one Ray head, one runtime stack.

The fixtures mirror ``tests/conftest.py`` (copied, not imported: ``tests`` is not a package) but the
stack is started once per session: the benchmarks measure steady-state throughput, not start-up. The
stack runs only the ``noop`` plugin on frames, plus ``bench_clock``, which writes down when each verdict
was stored. The machine description is printed in the report header and the summary, and stored in
the pytest-benchmark JSON (``machine_info.smartcustoms``) and in each result's ``extra_info``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).parent
if str(BENCH_DIR) not in sys.path:  # benchkit is a plain folder here, not an installed package
    sys.path.insert(0, str(BENCH_DIR))

from benchkit.machine import describe, format_description  # noqa: E402  (needs the path above)

from smartcustoms.core.config import Config, PluginConfig  # noqa: E402
from smartcustoms.core.manager import discover_plugins  # noqa: E402
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis  # noqa: E402
from smartcustoms.runtime.stack import Stack  # noqa: E402
from smartcustoms.runtime.testing import (  # noqa: E402, F401  (session fixtures)
    broker,
    config_on_services,
    ray_head,
    redis_service,
    services_dir,
)

MACHINE = describe()
SUMMARY_KEY = pytest.StashKey[list[dict[str, Any]]]()
CHECKPOINT_SUMMARY_KEY = pytest.StashKey[list[dict[str, Any]]]()
SERVICE_FIXTURES = frozenset({"broker", "redis_service", "ray_head"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Benchmarks that need no service run first, while no broker, Redis or Ray competes for the CPU."""
    items.sort(key=lambda item: bool(SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))))


# ------------------------------------------------------------------------------------------ reporting


def pytest_report_header(config: pytest.Config) -> list[str]:
    return format_description(MACHINE)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    machine_info["smartcustoms"] = MACHINE


@pytest.fixture(scope="session")
def bench_summary(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Rows for the summary printed at the end of the run (one per benchmark)."""
    return request.config.stash.setdefault(SUMMARY_KEY, [])


@pytest.fixture(scope="session")
def checkpoint_summary(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Rows of the per-checkpoint table printed at the end of the run (``benchkit.checkpoints``)."""
    return request.config.stash.setdefault(CHECKPOINT_SUMMARY_KEY, [])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rows = config.stash.get(SUMMARY_KEY, [])
    checkpoint_rows = config.stash.get(CHECKPOINT_SUMMARY_KEY, [])
    if not rows and not checkpoint_rows:
        return
    from benchkit.checkpoints import format_checkpoint_summary
    from benchkit.summary import format_summary

    terminalreporter.write_sep("=", "smartcustoms benchmarks")
    lines = list(format_description(MACHINE))
    if rows:
        lines += ["", *format_summary(rows)]
    if checkpoint_rows:
        lines += ["", *format_checkpoint_summary(checkpoint_rows)]
    for line in lines:
        terminalreporter.write_line(line)


# ------------------------------------------------------------------------------------------- services


@pytest.fixture(scope="session")
def session_dir(services_dir: Path) -> Path:
    return services_dir


@pytest.fixture(scope="session")
def shm_root() -> Iterator[Path]:
    """Claim checks wait in shared memory, as on a real single-host deployment (not on disk)."""
    root = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp")
    path = root / f"scbench-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


# where the no-op plugin runs: "ray" (an actor pool, the framework's full path) or "worker" (in the
# stream worker's process: no Ray round trip; docs/plugins.md, Placement)
NOOP_PLACEMENT = os.environ.get("SMARTCUSTOMS_BENCH_NOOP_PLACEMENT", "ray")


@pytest.fixture(scope="session")
def bench_config(
    session_dir: Path,
    shm_root: Path,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Config:
    """The runtime configuration on the session's services: the no-op plugin alone on every frame."""
    config = config_on_services(broker, redis_service, ray_head, session_dir / "run", shm_root, "bench")
    config.extra_plugins = ["benchkit.verdict_clock"]
    others = [info.spec.name for info in discover_plugins(entry_points=False)]
    config.plugins = {name: PluginConfig(enabled=False) for name in others}  # only the no-op looks at frames
    config.plugins |= {
        "noop": PluginConfig(enabled=True, pool_size=2, batch_max_frames=64, placement=NOOP_PLACEMENT),
        "bench_clock": PluginConfig(enabled=True, settings={"path": str(session_dir / "verdict-clock.tsv")}),
    }
    return config


@pytest.fixture(scope="session")
def clock_path(bench_config: Config) -> str:
    return str(bench_config.plugins["bench_clock"].settings["path"])


@pytest.fixture(scope="session")
def bench_stack(bench_config: Config) -> Iterator[Stack]:
    """Gateway and worker for the whole session; the worker can import ``benchkit.verdict_clock``."""
    stack = Stack(bench_config)
    with _pythonpath_with(BENCH_DIR):
        stack.start()  # children copy the environment when they are spawned
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def _pythonpath_with(folder: Path) -> Iterator[None]:
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), previous]))
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous
