"""Scaling out: 1, 2 and 3 stream workers in one consumer group behind one gateway, on the same load.

A site of its own on the session's broker, Redis and Ray head (a namespace of its own, topics with
``PARTITIONS`` partitions so 1, 2 and 3 workers each get an equal share): one gateway, then workers
added one at a time (each its own process, metrics port and run dir, as a second host would run it).
For each worker count the same load is sent: ``FRAMES`` RFID reader reports from sources chosen so that
every partition gets the same number of them, by ``CLIENTS`` vendor clients at once, each as fast as its
window allows. Figures per worker count: frames/s from the first send to the last verdict stored,
p50 / p99 from gateway acceptance to verdict stored (``bench_clock``), the machine's CPU count and load,
and where the CPU went: seconds of CPU per process over the run, read from /proc (gateway, each worker,
broker, Redis, the Ray head with its actors, this client, everything else), and the machine's busy time
from /proc/stat. The scaling table is printed at the end of the run. Nothing asserts a time: every frame
must be accepted and get its verdict, with no fallback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from aiokafka.partitioner import DefaultPartitioner
from benchkit.machine import describe, format_description
from benchkit.ray_node import JoiningRayNode
from benchkit.verdict_clock import read_clock
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.hardware.sdk.client import OK, VendorClient
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.process import free_port
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack, with_free_ports
from smartcustoms.v1 import frame_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BENCH_DIR = Path(__file__).parent
WORKER_COUNTS = (1, 2, 3)
PARTITIONS = 6  # 6 / 1, 3 / 2, 2 / 3: every worker count gets an even split
SOURCES_PER_PARTITION = 4
READS_PER_FRAME = 100
FRAMES = 2500
IDLE_S = 2.0
WARMUP_FRAMES = 100  # after each worker joins: its actors, connections and caches warm
CLIENTS = 4
WINDOW_FRAMES = 32  # per client
SETTLE_DEADLINE_S = 120.0
JOIN_DEADLINE_S = 60.0
CLOCK_WAIT_S = 10.0
PARTITIONS_METRIC = "smartcustoms_stream_assigned_partitions"
BATCH_METRIC = "smartcustoms_stream_batch_frames"  # histogram: frames per batch a worker took
ROLES = ("gateway", "workers", "broker", "redis", "ray", "ray2", "client", "other")
PIPELINE_ROLES = ROLES[:-1]  # what this site and its client cost; "other" is the rest of the machine
RAY_NODES = (1, 2)
RAY_NODES_ENV = "SMARTCUSTOMS_BENCH_RAY_NODES"  # "0": skip the 1 and 2 Ray node rows
SECOND_NODE_CPUS = 1  # what the second node declares to Ray; on one host it adds no core


# ---------------------------------------------------------------------------------------------- load


def balanced_sources(partitions: int, per_partition: int) -> list[str]:
    """Source ids the producer's partitioner (murmur2 of the source id) spreads evenly over the topic."""
    partitioner, every = DefaultPartitioner(), list(range(partitions))
    chosen: dict[int, list[str]] = {p: [] for p in every}
    index = 0
    while any(len(names) < per_partition for names in chosen.values()):
        name = f"scale-lane{index}"
        names = chosen[partitioner(name.encode(), every, every)]
        if len(names) < per_partition:
            names.append(name)
        index += 1
    return [name for names in zip(*chosen.values(), strict=True) for name in names]


def reader_report() -> bytes:
    """One RFID reader report of ``READS_PER_FRAME`` tag reads (small records travel in batches)."""
    seen = Timestamp()
    seen.GetCurrentTime()
    batch = frame_pb2.RfidReadBatch(reader_id="scale-reader", zone="scale-zone")
    for index in range(READS_PER_FRAME):
        batch.reads.add(
            epc_hex=f"3034{index:020X}",
            antenna_id=index % 4 + 1,
            rssi_dbm=-55 - index % 20,
            first_seen=seen,
            last_seen=seen,
            seen_count=1 + index % 3,
        )
    return batch.SerializeToString()


def frames_of(run_id: str, count: int, sources: Sequence[str]) -> list[frame_pb2.Frame]:
    """Frames without a sequence: each client numbers its sources' frames, rising across rounds."""
    frames = []
    for index in range(count):
        frame = frame_pb2.Frame(modality=frame_pb2.MODALITY_RFID, encoding="protobuf")
        frame.frame_id = f"scale-{run_id}-{index:06d}"
        frame.source_id = sources[index % len(sources)]
        frame.capture_time.GetCurrentTime()
        frames.append(frame)
    return frames


async def send_all(target: str, frames: Sequence[frame_pb2.Frame], payload: bytes) -> float:
    """``CLIENTS`` vendor clients at once, each with its share of the sources; Unix time of the first send."""
    view = memoryview(payload)
    first_sent_s = time.time()

    async def one_client(share: Sequence[frame_pb2.Frame]) -> None:
        async with VendorClient(target, window_frames=WINDOW_FRAMES) as client:
            acks = [await client.send(frame, view) for frame in share]
            refused = [ack for ack in await asyncio.gather(*acks) if ack.code != OK or ack.duplicate]
            assert not refused, f"{len(refused)} frames refused, first: {refused[0]}"

    await asyncio.gather(*(one_client(frames[i::CLIENTS]) for i in range(CLIENTS)))
    return first_sent_s


async def wait_settled(config: Config, before: Counts, frames: int) -> Counts:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    try:
        while True:
            counts = await ledger.counts()
            done = counts.verdicts + counts.fallbacks - before.verdicts - before.fallbacks
            if counts.accepted - before.accepted >= frames and done >= frames and counts.in_flight == 0:
                return counts
            assert time.monotonic() < deadline, f"not settled: {counts} (before: {before})"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def ledger_counts(config: Config) -> Counts:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        return await ledger_for(config, client).counts()
    finally:
        await client.aclose()


# --------------------------------------------------------------------------------------- CPU by role


CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) for every process on the machine."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
            cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime + stime
            table[int(entry.name)] = (int(fields[1]), cpu_s)
    return table


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / CLOCK_TICKS_PER_S


def role_of(pid: int, table: dict[int, tuple[int, float]], roots: dict[int, str]) -> str:
    """The role of the nearest listed ancestor (itself included); this process counts only itself."""
    seen = 0
    while pid in table and seen < 64:
        if pid in roots:
            return roots[pid]
        if pid == os.getpid():
            return "other"  # the session's own stack and other helpers this process started
        pid, seen = table[pid][0], seen + 1
    return "other"


def waited_s(pid: int) -> float:
    """Seconds the threads of ``pid`` have spent runnable but waiting for a core (schedstat)."""
    waited = 0.0
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                waited += int(Path(task.path, "schedstat").read_text().split()[1]) / 1e9
    return waited


def cpu_pressure_s() -> float:
    """Seconds in which at least one runnable task waited for a core (PSI ``some``), or 0 without PSI."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        some = next(
            line for line in Path("/proc/pressure/cpu").read_text().splitlines() if line.startswith("some")
        )
        return int(some.rsplit("total=", 1)[1]) / 1e6
    return 0.0


@dataclass(frozen=True)
class CpuSnapshot:
    at_s: float
    busy_s: float
    pressure_s: float
    table: dict[int, tuple[int, float]]
    waited_s: dict[int, float]  # of the listed processes (gateway, workers, broker, Redis)


def cpu_snapshot(watched: Sequence[int]) -> CpuSnapshot:
    return CpuSnapshot(
        time.monotonic(),
        machine_busy_s(),
        cpu_pressure_s(),
        process_table(),
        {p: waited_s(p) for p in watched},
    )


def cpu_by_role(before: CpuSnapshot, after: CpuSnapshot, roots: dict[int, str]) -> dict[str, float]:
    """Cores used per role between two snapshots (CPU seconds / wall seconds), the machine's busy cores,
    the share of time some task waited for a core, and per role the seconds waited per second."""
    wall_s = after.at_s - before.at_s
    used = dict.fromkeys(ROLES, 0.0)
    for pid, (_, cpu_s) in after.table.items():
        previous = before.table.get(pid, (0, 0.0))[1]
        role = role_of(pid, after.table, {**roots, os.getpid(): "client"})
        role = "workers" if role.startswith("worker") else role
        used[role] += max(0.0, cpu_s - previous)
    cores = {role: round(seconds / wall_s, 2) for role, seconds in used.items()}
    cores["machine"] = round((after.busy_s - before.busy_s) / wall_s, 2)
    cores["pressure"] = round((after.pressure_s - before.pressure_s) / wall_s, 2)
    waited = dict.fromkeys(("gateway", "workers", "broker", "redis"), 0.0)
    for pid, seconds in after.waited_s.items():
        role = roots.get(pid, "other")
        role = "workers" if role.startswith("worker") else role
        if role in waited:
            waited[role] += seconds - before.waited_s.get(pid, 0.0)
    cores |= {f"waited_{role}": round(seconds / wall_s, 2) for role, seconds in waited.items()}
    return cores


def worker_cores(before: CpuSnapshot, after: CpuSnapshot, pids: Sequence[int]) -> list[float]:
    """Cores used by each worker process (its own process, not its Ray actors)."""
    wall_s = after.at_s - before.at_s
    return [
        round((after.table.get(p, (0, 0.0))[1] - before.table.get(p, (0, 0.0))[1]) / wall_s, 2) for p in pids
    ]


# ------------------------------------------------------------------------------------------- the site


def batches_taken(metrics_urls: Sequence[str]) -> tuple[float, float]:
    """(batches, frames) the workers took from the frame topics so far, summed over the workers."""
    batches = frames = 0.0
    for url in metrics_urls:
        with contextlib.suppress(OSError):
            samples = scrape(url, timeout_s=2.0)
            batches += total(samples, f"{BATCH_METRIC}_count")
            frames += total(samples, f"{BATCH_METRIC}_sum")
    return batches, frames


def assigned_partitions(metrics_url: str) -> float:
    try:
        return total(scrape(metrics_url, timeout_s=1.0), PARTITIONS_METRIC)
    except OSError:
        return 0.0


class ScaleSite:
    """One gateway and a growing group of stream workers, all in one namespace on shared services."""

    def __init__(self, config: Config, run_dir: Path, roots: dict[int, str]) -> None:
        self.config = config
        self.run_dir = run_dir
        self.service_roots = roots
        self.gateway = Stack(config)
        self.workers: list[Stack] = []
        self.clock_paths: list[str] = []
        self.started = 0  # workers started so far: each gets a run dir, port and clock of its own
        self.every_partition = 0.0  # what the first worker holds alone: every partition of the group

    @property
    def roots(self) -> dict[int, str]:
        roots = dict(self.service_roots)
        if self.gateway.gateway is not None and self.gateway.gateway.pid is not None:
            roots[self.gateway.gateway.pid] = "gateway"
        for index, pid in enumerate(self.worker_pids, start=1):
            roots[pid] = f"worker{index}"
        return roots

    @property
    def worker_pids(self) -> list[int]:
        return [s.worker.pid for s in self.workers if s.worker is not None and s.worker.pid is not None]

    def start(self) -> None:
        self.gateway.start(worker=False)

    def grow_to(self, count: int) -> float:
        """Add workers until ``count`` run and share the partitions; seconds it took."""
        started = time.monotonic()
        while len(self.workers) < count:
            self._add_worker()
        urls = [s.metrics_urls[1] for s in self.workers]
        deadline = time.monotonic() + JOIN_DEADLINE_S
        while True:
            held = [assigned_partitions(url) for url in urls]
            if not self.every_partition and held[0] > 0:
                self.every_partition = held[0]
            if all(h > 0 for h in held) and sum(held) == self.every_partition:
                return time.monotonic() - started
            assert time.monotonic() < deadline, f"{count} workers do not share the partitions: {held}"
            time.sleep(0.2)

    def _add_worker(self) -> None:
        self.started += 1
        index = self.started
        config = copy.deepcopy(self.config)
        config.worker.metrics_port = free_port()
        config.run_dir = str(self.run_dir / f"worker{index}")
        clock = str(self.run_dir / f"worker{index}-clock.tsv")
        config.plugins["bench_clock"] = PluginConfig(enabled=True, settings={"path": clock})
        stack = Stack(config)  # only its worker is started: it uses the first gateway (same port)
        stack.run_dir.mkdir(parents=True, exist_ok=True)
        (stack.run_dir / "config.json").write_text(config.to_json())
        self.workers.append(stack)
        self.clock_paths.append(clock)
        with pytest.MonkeyPatch.context() as patch:  # the worker imports benchkit.verdict_clock
            patch.setenv(
                "PYTHONPATH", os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")]))
            )
            stack.start_worker()

    def stop_workers(self) -> None:
        """Every worker at once (each drains within its stop deadline); the group starts again empty."""
        with concurrent.futures.ThreadPoolExecutor(max(1, len(self.workers))) as pool:
            stopping = [pool.submit(stack.stop) for stack in self.workers]  # each within its deadline
        for stopped in stopping:
            with contextlib.suppress(Exception):
                stopped.result()
        self.workers, self.clock_paths = [], []

    def stop(self) -> None:
        """Every worker, then the gateway."""
        try:
            self.stop_workers()
        finally:
            self.gateway.stop()


# ------------------------------------------------------------------------------------------ a round


@dataclass(frozen=True)
class Round:
    first_sent_s: float
    accepted_s: np.ndarray
    stored_s: np.ndarray
    verdicts_per_worker: list[int]
    mean_batch_frames: float
    cores: dict[str, float]
    worker_cores: list[float]
    wall_s: float

    @property
    def elapsed_s(self) -> float:
        return float(self.stored_s.max() - self.first_sent_s)


def clock_times(paths: Sequence[str], frame_ids: Sequence[str]) -> tuple[dict[str, Any], list[int]]:
    """Each frame's (accepted, decided, stored) from the workers' clocks, and verdicts per worker."""
    deadline = time.monotonic() + CLOCK_WAIT_S
    wanted = set(frame_ids)
    while True:
        clocks = [read_clock(path) if Path(path).exists() else {} for path in paths]
        merged: dict[str, Any] = {}
        for clock in clocks:
            for frame_id, times in clock.items():
                merged.setdefault(frame_id, times)
        missing = wanted - merged.keys()
        if not missing:
            return merged, [len(wanted & clock.keys()) for clock in clocks]
        assert time.monotonic() < deadline, f"{len(missing)} verdicts never reached bench_clock"
        time.sleep(0.05)


def run_round(site: ScaleSite, frames: Sequence[frame_pb2.Frame], payload: bytes) -> Round:
    """Send every frame, wait until each has its verdict; times and CPU by role over the run."""
    roots = site.roots
    before_counts = asyncio.run(ledger_counts(site.config))
    metrics_urls = [stack.metrics_urls[1] for stack in site.workers]
    batches_before = batches_taken(metrics_urls)
    watched = [pid for pid, role in roots.items() if role != "ray"]
    before = cpu_snapshot(watched)
    first_sent_s = asyncio.run(send_all(site.gateway.gateway_target, frames, payload))
    after_counts = asyncio.run(wait_settled(site.config, before_counts, len(frames)))
    after = cpu_snapshot(watched)
    assert after_counts.fallbacks == before_counts.fallbacks, "frames went to manual inspection"
    batches_after = batches_taken(metrics_urls)
    batches = batches_after[0] - batches_before[0]
    ids = [frame.frame_id for frame in frames]
    clock, per_worker = clock_times(site.clock_paths, ids)
    return Round(
        first_sent_s,
        np.array([clock[i][0] for i in ids]),
        np.array([clock[i][2] for i in ids]),
        per_worker,
        (batches_after[1] - batches_before[1]) / batches if batches else float("nan"),
        cpu_by_role(before, after, roots),
        worker_cores(before, after, site.worker_pids),
        after.at_s - before.at_s,
    )


def ceilings(measured: Round, workers: int) -> dict[str, float]:
    """What the CPU time per frame allows: every core of the machine given to this pipeline alone
    (client included), one core for the gateway process, one core for each worker process."""

    def ms_per_frame(role: str) -> float:
        return measured.cores[role] * measured.wall_s / FRAMES * 1000

    pipeline_ms = sum(ms_per_frame(role) for role in PIPELINE_ROLES)
    return {
        "pipeline_cpu_ms_per_frame": round(pipeline_ms, 3),
        "cores_allow_frames_per_s": round((os.cpu_count() or 1) * 1000 / pipeline_ms, 1),
        "gateway_core_allows_frames_per_s": round(1000 / ms_per_frame("gateway"), 1),
        "worker_core_allows_frames_per_s": round(workers * 1000 / ms_per_frame("workers"), 1),
    }


def idle_cores(site: ScaleSite) -> dict[str, float]:
    """Cores used per role over ``IDLE_S`` with nothing sent: what the processes cost by themselves."""
    roots = site.roots
    watched = [pid for pid, role in roots.items() if role != "ray"]
    before = cpu_snapshot(watched)
    time.sleep(IDLE_S)
    return cpu_by_role(before, cpu_snapshot(watched), roots)


# ------------------------------------------------------------------------------------- table, summary


class ScaleTable:
    """Rows of the scaling table, printed after the other summaries at the end of the run."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.rows:
            terminalreporter.write_sep("=", "smartcustoms scaling: stream workers behind one gateway")
            for line in format_table(self.rows):
                terminalreporter.write_line(line)


def format_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    first = rows[0]
    lines = [
        f"{first['frames']} RFID reports of {first['reads_per_frame']} reads, {first['clients']} clients x "
        f"{first['window_frames']} in flight, {first['partitions']} partitions, noop plugin (2 actors, "
        "SPREAD); site = stream workers (w) and Ray nodes (n); frames/s = first send -> last verdict stored;",
        "x1 = over the first row of its kind (1 worker; 1 Ray node); p50/p99 ms = accepted -> stored; "
        "batch = mean frames per batch a worker took.",
        f"Cores used over the run (CPU s per wall s; this machine has {first['cpu_count']}): busy = whole "
        "machine, psi = share of time some task waited for a core; gw = gateway, wk = each worker,",
        "ray = Ray head and actors, ray2 = the second Ray node and its actors, cli = this client, "
        "other = the rest of the machine;",
        "wait = s per s the gateway / workers / broker were runnable but had no core; "
        "idle = workers + broker with no load; allow = frames/s the CPU time per frame allows: all cores to "
        "this pipeline | 1 core for the gateway | 1 core per worker.",
        f"{'site':>4} {'frames/s':>8} {'x1':>4} {'p50':>6} {'p99':>6} {'batch':>5} {'load':>4} | "
        f"{'busy':>4} {'psi':>4} {'gw':>4} {'wk':>14} {'brk':>4} {'rds':>4} {'ray':>4} {'ray2':>4} "
        f"{'cli':>4} {'othr':>4} | {'wait gw/wk/brk':>14} | {'idle':>9} | {'allow all/gw/wk':>16}",
        "-" * 154,
    ]
    for r in rows:
        each = "/".join(f"{c:.2f}" for c in r["worker_cores_each"])
        waits = f"{r['waited_gateway']:.2f}/{r['waited_workers']:.2f}/{r['waited_broker']:.2f}"
        idle = f"{r['idle_cores_workers']:.2f}+{r['idle_cores_broker']:.2f}"
        allow = (
            f"{r['cores_allow_frames_per_s']:.0f}/{r['gateway_core_allows_frames_per_s']:.0f}/"
            f"{r['worker_core_allows_frames_per_s']:.0f}"
        )
        site = f"{r['workers']}w{r['ray_nodes']}n"
        lines.append(
            f"{site:>4} {r['frames_per_s']:>8.1f} {r['speedup']:>4.2f} "
            f"{r['latency_p50_ms']:>6.0f} {r['latency_p99_ms']:>6.0f} {r['mean_batch_frames']:>5.1f} "
            f"{r['load_avg_1m']:>4.1f} | "
            f"{r['cores_machine']:>4.2f} {r['cpu_pressure']:>4.2f} {r['cores_gateway']:>4.2f} {each:>14} "
            f"{r['cores_broker']:>4.2f} {r['cores_redis']:>4.2f} {r['cores_ray']:>4.2f} "
            f"{r['cores_ray2']:>4.2f} {r['cores_client']:>4.2f} {r['cores_other']:>4.2f} | {waits:>14} | "
            f"{idle:>9} | {allow:>16}"
        )
    return lines


@pytest.fixture(scope="module")
def scale_table(request: pytest.FixtureRequest) -> ScaleTable:
    table = ScaleTable()
    request.config.pluginmanager.register(table, "smartcustoms-scale-table")
    return table


@pytest.fixture(scope="module")
def scale_site(
    bench_config: Config,
    session_dir: Path,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Iterator[ScaleSite]:
    config = with_free_ports(copy.deepcopy(bench_config))
    config.namespace = f"benchscale{uuid.uuid4().hex[:8]}"
    run_dir = session_dir / "scale"
    config.run_dir = str(run_dir / "gateway")
    config.broker.partitions = PARTITIONS
    # SPREAD: with the head alone every actor is on it; with a second node the pool is split between them
    config.plugins["noop"] = PluginConfig(
        enabled=True, pool_size=2, batch_max_frames=64, scheduling_strategy="SPREAD"
    )
    services = {broker.pid: "broker", redis_service.pid: "redis", ray_head.pid: "ray"}
    site = ScaleSite(config, run_dir, {pid: role for pid, role in services.items() if pid is not None})
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def second_ray_node(ray_head: EmbeddedRay, session_dir: Path) -> Iterator[JoiningRayNode]:
    """A second Ray node for the session's head, started by the 2-node row and stopped with the module."""
    node = JoiningRayNode(session_dir / "scale" / "ray-node", ray_head, num_cpus=SECOND_NODE_CPUS)
    try:
        yield node
    finally:
        node.stop()


def measure(benchmark: Any, site: ScaleSite, workers: int, ray_nodes: int, join_s: float) -> dict[str, Any]:
    """Idle cores, warm-up, then the measured load; the row's figures, recorded and printed."""
    idle = idle_cores(site)
    sources = balanced_sources(PARTITIONS, SOURCES_PER_PARTITION)
    payload = reader_report()
    run_id = uuid.uuid4().hex[:6]
    run_round(site, frames_of(f"{run_id}w", WARMUP_FRAMES, sources), payload)
    frames = frames_of(run_id, FRAMES, sources)
    measured = benchmark.pedantic(lambda: run_round(site, frames, payload), rounds=1, iterations=1)
    assert sum(measured.verdicts_per_worker) == FRAMES, "every frame has exactly one verdict"

    frames_per_s = FRAMES / measured.elapsed_s
    latency_s = measured.stored_s - measured.accepted_s
    figures: dict[str, Any] = {
        "checkpoint": "scale",
        "workers": workers,
        "ray_nodes": ray_nodes,
        "frames": FRAMES,
        "reads_per_frame": READS_PER_FRAME,
        "payload_bytes": len(payload),
        "clients": CLIENTS,
        "window_frames": WINDOW_FRAMES,
        "partitions": PARTITIONS,
        "elapsed_s": round(measured.elapsed_s, 3),
        "frames_per_s": round(frames_per_s, 1),
        "records_per_s": round(frames_per_s * READS_PER_FRAME, 1),
        "latency_p50_ms": round(float(np.percentile(latency_s, 50)) * 1000, 2),
        "latency_p99_ms": round(float(np.percentile(latency_s, 99)) * 1000, 2),
        "verdicts_per_worker": measured.verdicts_per_worker,
        "mean_batch_frames": round(measured.mean_batch_frames, 1),
        "join_s": round(join_s, 1),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **{f"cores_{role}": measured.cores[role] for role in (*ROLES, "machine")},
        "cpu_pressure": measured.cores["pressure"],
        **{key: value for key, value in measured.cores.items() if key.startswith("waited_")},
        "worker_cores_each": measured.worker_cores,
        "cpu_ms_per_frame": {
            role: round(measured.cores[role] * measured.wall_s / FRAMES * 1000, 3)
            for role in (*ROLES, "machine")
        },
        **ceilings(measured, workers),
        "idle_cores_workers": idle["workers"],
        "idle_cores_broker": idle["broker"],
        "idle_cores_ray2": idle["ray2"],
    }
    return figures


def record_row(benchmark: Any, table: ScaleTable, figures: dict[str, Any]) -> None:
    machine = describe()
    benchmark.extra_info.update({**figures, "machine": machine})
    table.rows.append(figures)
    print(f"\nscale {figures['case']}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    for line in format_description(machine):
        print(line)


@pytest.mark.parametrize("ray_nodes", RAY_NODES, ids=[f"{n}n" for n in RAY_NODES])
def test_ray_nodes_share_one_load(
    benchmark: Any,
    scale_site: ScaleSite,
    scale_table: ScaleTable,
    second_ray_node: JoiningRayNode,
    ray_nodes: int,
) -> None:
    """One stream worker started afresh, its pool (2 actors, SPREAD) on the head alone, then with a second
    Ray node (``ray start --address``, its own process and resources) so one actor runs on each. These
    rows run before the worker rows, which start from an empty group on the head alone."""
    if os.environ.get(RAY_NODES_ENV, "1") == "0":
        pytest.skip(f"{RAY_NODES_ENV}=0")
    scale_site.stop_workers()
    if ray_nodes == 2:
        second_ray_node.start()
        assert second_ray_node.pid is not None
        scale_site.service_roots[second_ray_node.pid] = "ray2"
        second_ray_node.placement(ray_nodes)  # waits until the head counts the node, before any actor
    join_s = scale_site.grow_to(1)  # a fresh worker: SPREAD places its actors over the nodes alive now
    try:
        placement = second_ray_node.placement(ray_nodes) if ray_nodes == 2 else {"nodes_alive": 1}
        if ray_nodes == 2:
            assert placement["nodes_alive"] == 2 and placement["actors_on_node"] >= 1, placement
        figures = measure(benchmark, scale_site, 1, ray_nodes, join_s)
    finally:
        if ray_nodes == 2:  # the worker rows: the head alone, workers added to an empty group
            scale_site.stop_workers()
            second_ray_node.stop()
            scale_site.service_roots.pop(second_ray_node.pid or -1, None)
    one_node = next(
        (r["frames_per_s"] for r in scale_table.rows if r.get("case") == "1 worker, 1 Ray node"),
        figures["frames_per_s"],
    )
    speedup = round(figures["frames_per_s"] / one_node, 3)
    case = f"1 worker, {ray_nodes} Ray node{'s' if ray_nodes > 1 else ''}"
    record_row(
        benchmark,
        scale_table,
        {"case": case, **figures, **placement, "speedup": speedup, "speedup_vs_1_node": speedup},
    )


@pytest.mark.parametrize("workers", WORKER_COUNTS, ids=[f"{n}w" for n in WORKER_COUNTS])
def test_workers_share_one_load(
    benchmark: Any, scale_site: ScaleSite, scale_table: ScaleTable, workers: int
) -> None:
    join_s = scale_site.grow_to(workers)
    figures = measure(benchmark, scale_site, workers, 1, join_s)
    one_worker = next(
        (r["frames_per_s"] for r in scale_table.rows if r["case"] == "1 worker"),
        figures["frames_per_s"],
    )
    speedup = round(figures["frames_per_s"] / one_worker, 3)
    case = f"{workers} worker{'s' if workers > 1 else ''}"
    row = {"case": case, **figures, "speedup": speedup, "speedup_vs_1_worker": speedup}
    record_row(benchmark, scale_table, row)
