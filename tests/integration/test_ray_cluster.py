"""A Ray cluster started the way a site starts one, a plugin pool across its nodes, one node killed.

The head is ``ray start --head --block`` and the second node ``ray start --address HEAD --block``, each a
process of its own (token authentication and short temp dirs as in ``EmbeddedRay``, its own temp dir per
node as on a host of its own, a custom resource naming each node). The gateway and the stream worker run
on the session's broker and Redis and join the cluster with ``ray.address``; the plugin's pool is spread
over both nodes (``scheduling_strategy = "SPREAD"``). The second node's process group is SIGKILLed while
several sources stream, and every accepted frame still gets exactly one verdict: from the plugin, or (a
frame alone in a batch on an actor lost with the node) a fallback to manual inspection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.hardware.sdk.client import OK, VendorClient
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.ray_auth import token_env
from smartcustoms.runtime.services import (
    EmbeddedBroker,
    EmbeddedRay,
    EmbeddedRayNode,
    EmbeddedRedis,
    ray_node_args,
)
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import config_on_services, ledger_settled, only_plugins
from smartcustoms.v1 import frame_pb2, ingest_pb2, results_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLUGIN = "rfid_epc_check"
POOL_SIZE = 2
OBJECT_STORE_BYTES = 128 * 1024 * 1024
SOURCES = [f"lane-{n}" for n in range(1, 5)]
RATE_HZ = 40.0  # frames/s over all sources
KILL_AFTER_S = 4.0
# Ray marks a lost node dead after its health check fails 5 times, 3 s apart (its defaults); the stream
# goes on until the pool has its actors back, at most this long after the kill.
RECOVERY_MAX_S = 45.0

# A driver of its own (a subprocess, so this process's environment and Ray settings stay untouched) that
# reports the cluster's nodes and the plugin actors from Ray's GCS. ``ray.util.state`` would need the
# dashboard, which these nodes run without (as EmbeddedRay does); ``ray._private.state`` reads the same
# tables directly.
OBSERVER = """
import json, sys, time
import ray
from ray._private import state

address, mode, timeout_s, pool_size = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
ray.init(address=address, log_to_driver=False, logging_level="ERROR")
deadline = time.monotonic() + timeout_s
seen = {}

def nodes():
    return [{"id": n["NodeID"], "alive": n["Alive"], "resources": sorted(n["Resources"]),
             "death": n.get("DeathReasonMessage", "")} for n in ray.nodes()]

def hosts():
    return [{"node": a["Address"]["NodeID"], "state": a["State"], "start_s": a["StartTime"] / 1000}
            for a in state.actors().values() if a["ActorClassName"] == "PluginHost"]

def pool_on_live_nodes():  # a lost node's actors may be marked dead a moment after the node itself
    live = {n["id"] for n in nodes() if n["alive"]}
    return [h for h in hosts() if h["state"] == "ALIVE" and h["node"] in live]

def until(what, condition):
    while not condition():
        if time.monotonic() > deadline:
            print(json.dumps({"timeout": what, "seen": seen, "nodes": nodes(), "hosts": hosts()}))
            sys.exit(1)
        time.sleep(0.1)
    seen[what] = time.time()

if mode == "nodes":
    until("nodes", lambda: sum(n["alive"] for n in nodes()) >= 2)
elif mode == "recovery":
    print("connected", flush=True)
    until("node lost", lambda: sum(n["alive"] for n in nodes()) < 2)
    until("pool whole", lambda: len(pool_on_live_nodes()) >= pool_size)
print(json.dumps({"seen": seen, "nodes": nodes(), "hosts": hosts()}))
ray.shutdown()
"""


class RayHead(EmbeddedRay):
    """``ray start --head --block`` as EmbeddedRay starts it, one CPU and a custom resource naming it."""

    name = "ray-head"

    def __init__(self, run_dir: Path, resource: str) -> None:
        super().__init__(run_dir, num_cpus=1, object_store_memory_bytes=OBJECT_STORE_BYTES)
        self.resource = resource

    def _argv(self) -> list[str]:
        argv = super()._argv()
        at = argv.index("--num-cpus")
        return [*argv[:at], *argv[at + 2 :], *ray_node_args(self.num_cpus, {self.resource: 1})]


class RayJoiningNode(EmbeddedRayNode):
    """A node joining the head's cluster with a custom resource naming it (``RayCluster`` then waits until
    the head counts it)."""

    def __init__(self, run_dir: Path, head: RayHead, resource: str) -> None:
        super().__init__(run_dir, head, 1, {resource: 1}, OBJECT_STORE_BYTES)
        self.resource = resource


@dataclass(frozen=True)
class Process:
    pid: int
    started: str  # the kernel's start time: a pid reused later is another process
    name: str


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]; start time at index 19."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _process(pid: int) -> Process | None:
    with contextlib.suppress(OSError, IndexError):  # exited meanwhile
        fields = _stat(pid)
        if fields[0] not in ("Z", "X"):  # a zombie is dead, only not yet reaped
            return Process(pid, fields[19], _name(Path(f"/proc/{pid}/cmdline").read_bytes().decode()))
    return None


def _name(cmdline: str) -> str:
    """``raylet``, ``ray::PluginHost``; for a Python process its script or module (``log_monitor.py``)."""
    words = [word.rsplit("/", 1)[-1] for word in cmdline.split("\0") if word and not word.startswith("-")]
    return words[1] if len(words) > 1 and words[0].startswith("python") else words[0] if words else "?"


def _ray_processes(roots: list[int | None], tmpdirs: list[Path]) -> set[Process]:
    """The live processes of these Ray nodes: the descendants of their ``ray start`` processes, and any
    process started with one of their ``RAY_TMPDIR`` (workers orphaned by a killed raylet; Ray's workers
    lead process groups of their own, and a renamed process may have lost its environment)."""
    wanted = {f"RAY_TMPDIR={tmpdir}".encode() for tmpdir in tmpdirs}
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):  # exited meanwhile, or not ours to read
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
                if wanted & set((entry / "environ").read_bytes().split(b"\0")):
                    found.add(int(entry.name))
    todo = [root for root in roots if root is not None]
    while todo:
        found.add(pid := todo.pop())
        todo += children.get(pid, [])
    return {process for pid in found if (process := _process(pid)) is not None}


def _alive(processes: set[Process]) -> set[Process]:
    return {process for process in processes if _process(process.pid) == process}


@dataclass(frozen=True)
class Observed:
    """What the observer read from Ray's GCS: when it saw each awaited event (wall clock), the nodes, and
    the plugin actors (``node``, ``state``, ``start_s``: wall clock, 0 if it never started)."""

    seen: dict[str, float]
    nodes: list[dict[str, Any]]
    hosts: list[dict[str, Any]]

    @classmethod
    def parse(cls, output: str) -> Observed:
        report = json.loads(output.strip().splitlines()[-1])
        return cls(report["seen"], report["nodes"], report["hosts"])


@dataclass
class RayCluster:
    head: RayHead
    node: RayJoiningNode
    head_id: str = ""
    node_id: str = ""
    started_s: float = 0.0
    seen: set[Process] = field(default_factory=set)

    def observe(self, mode: str, timeout_s: float = 60.0) -> Observed:
        """The observer's report; it waits (``mode``) with its own deadline."""
        done = subprocess.run(
            self.observer_argv(mode, timeout_s),
            env=self.observer_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s + 60,
        )
        assert done.returncode == 0, f"observer {mode}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        return Observed.parse(done.stdout)

    def observer_argv(self, mode: str, timeout_s: float) -> list[str]:
        return [sys.executable, "-c", OBSERVER, self.head.address, mode, str(timeout_s), str(POOL_SIZE)]

    def observer_env(self) -> dict[str, str]:
        return {**os.environ, "RAY_TMPDIR": str(self.head.ray_tmpdir), **token_env(self.head.auth_token_path)}

    @property
    def tmpdirs(self) -> list[Path]:
        return [self.head.ray_tmpdir, self.node.ray_tmpdir]

    def processes(self) -> set[Process]:
        """The live processes of both nodes, remembered so that ``stop`` checks each has gone."""
        found = _ray_processes([self.head.pid, self.node.pid], self.tmpdirs)
        self.seen |= found
        return found


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[RayCluster]:
    """A head and a second node, each a ``ray start --block`` process; at the end every process either
    started is gone (``RayCluster.processes``: orphaned workers count too)."""
    head = RayHead(tmp_path / "ray-head", "head_node")
    cluster = RayCluster(head, RayJoiningNode(tmp_path / "ray-node", head, "second_node"))
    started = time.monotonic()
    try:
        head.start()
        cluster.node.start()
        nodes = cluster.observe("nodes").nodes
        ids = {resource: node["id"] for node in nodes for resource in node["resources"] if node["alive"]}
        cluster.head_id, cluster.node_id = ids["head_node"], ids["second_node"]
        cluster.started_s = time.monotonic() - started
        yield cluster
    finally:
        _stop(cluster)


def _stop(cluster: RayCluster) -> None:
    stopping = time.monotonic()
    cluster.processes()
    cluster.node.stop()
    cluster.head.stop()

    def left() -> set[Process]:
        return _alive(cluster.seen) | _ray_processes([], cluster.tmpdirs)

    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not left(), 20, 0.2)
    leftover = left()
    for process in leftover:  # the fallback; the test fails all the same
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    for tmpdir in cluster.tmpdirs:
        if tmpdir.name.startswith("scray-"):  # the short dir outside tmp_path
            shutil.rmtree(tmpdir, ignore_errors=True)
    print(
        f"\nray cluster stopped in {time.monotonic() - stopping:.1f} s: {len(cluster.seen)} processes seen, "
        f"{len(leftover)} left"
    )
    assert not leftover, f"Ray processes outlived the cluster: {leftover}"


def _frame(source: str, number: int) -> frame_pb2.Frame:
    frame = rfid_to_frame(frame_pb2.RfidReadBatch(reader_id=source), source_id=source, sequence=number)
    frame.frame_id = f"ray-{source}-{number}"
    return frame


async def _verdicts(config: Config, frame_ids: list[str]) -> dict[str, results_pb2.Verdict]:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    try:
        found = {frame_id: await ledger.verdict(frame_id) for frame_id in frame_ids}
    finally:
        await client.aclose()
    missing = [frame_id for frame_id, verdict in found.items() if verdict is None]
    assert not missing, f"no verdict for {missing}"
    return {frame_id: verdict for frame_id, verdict in found.items() if verdict is not None}


def _seconds(stamp: Timestamp) -> float:
    return float(stamp.ToNanoseconds()) / 1e9


class KillUnderLoad:
    """Several sources stream; the second node's process group is SIGKILLed after ``KILL_AFTER_S``; the
    stream goes on until the observer has seen Ray mark the node dead and the pool whole again."""

    def __init__(self, stack: Stack, cluster: RayCluster) -> None:
        self.stack = stack
        self.cluster = cluster
        self.acks: list[ingest_pb2.IngestAck] = []
        self.frame_ids: list[str] = []
        self.killed_at_s = 0.0  # wall clock, as Ray's and the ledger's times
        self.killed_monotonic_s = 0.0
        self.node_processes: set[Process] = set()  # the node's, just before the kill
        self.outlived: set[Process] = set()  # the node's, a second after the kill
        self.node_gone_s = 0.0  # from the kill until none of the node's processes was left

    def run(self) -> Observed:
        observer = subprocess.Popen(
            self.cluster.observer_argv("recovery", KILL_AFTER_S + RECOVERY_MAX_S + 30),
            env=self.cluster.observer_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            return self._run(observer)
        finally:
            if observer.poll() is None:  # the test failed before the observer was done
                observer.kill()
                observer.wait(10)

    def _run(self, observer: subprocess.Popen[str]) -> Observed:
        assert observer.stdout is not None
        assert observer.stdout.readline().strip() == "connected", observer.communicate(timeout=60)
        asyncio.run(self._stream(observer))
        node = self.node_processes
        wait_for(lambda: not _alive(node), 30, 0.2, f"the killed node's processes to exit: {_alive(node)}")
        self.node_gone_s = time.monotonic() - self.killed_monotonic_s
        self.cluster.node.stop()  # reaps the `ray start` process
        out, err = observer.communicate(timeout=60)
        assert observer.returncode == 0, f"observer: {out[-3000:]} {err[-2000:]}"
        return Observed.parse(out)

    async def _stream(self, observer: subprocess.Popen[str]) -> None:
        killing = asyncio.gather(self._kill())
        for acks, ids in await asyncio.gather(*(self._source(name, observer) for name in SOURCES)):
            self.acks += acks
            self.frame_ids += ids
        await killing

    def _streaming(self, observer: subprocess.Popen[str]) -> bool:
        if not self.killed_at_s:
            return True
        return observer.poll() is None and time.monotonic() < self.killed_monotonic_s + RECOVERY_MAX_S

    async def _source(
        self, name: str, observer: subprocess.Popen[str]
    ) -> tuple[list[ingest_pb2.IngestAck], list[str]]:
        async with VendorClient(self.stack.gateway_target, window_frames=8) as client:
            futures: list[asyncio.Future[ingest_pb2.IngestAck]] = []
            ids: list[str] = []
            started = time.monotonic()
            interval_s = len(SOURCES) / RATE_HZ
            while self._streaming(observer):
                frame = _frame(name, len(ids) + 1)
                futures.append(await client.send(frame))
                ids.append(frame.frame_id)
                await asyncio.sleep(max(0.0, started + len(ids) * interval_s - time.monotonic()))
            return [await future for future in futures], ids

    async def _kill(self) -> None:
        await asyncio.sleep(KILL_AFTER_S)
        node = self.cluster.node
        self.cluster.processes()
        self.node_processes = _ray_processes([node.pid], [node.ray_tmpdir])
        assert node.pid is not None
        os.killpg(node.pid, signal.SIGKILL)  # `ray start`, its raylet and agents
        self.killed_at_s, self.killed_monotonic_s = time.time(), time.monotonic()
        await asyncio.sleep(1.0)
        self.outlived = _alive(self.node_processes)


def _assert_pool_on(cluster: RayCluster, node_ids: list[str]) -> None:
    pool = [host["node"] for host in cluster.observe("snapshot").hosts if host["state"] == "ALIVE"]
    assert sorted(pool) == sorted(node_ids), f"the pool's actors on {node_ids}: {pool}"


def _actors_since(observed: Observed, cluster: RayCluster, since_s: float) -> str:
    where = {cluster.head_id: "head", cluster.node_id: "second node"}
    return "; ".join(
        f"{where[host['node']]}, {host['state'].lower()}, "
        + (f"started {host['start_s'] - since_s:+.1f} s" if host["start_s"] else "never started")
        for host in sorted(observed.hosts, key=lambda host: host["start_s"] or since_s)
    )


def test_a_plugin_pool_spread_over_two_ray_nodes_loses_no_frame_when_one_node_is_killed(
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_cluster: RayCluster,
    start_stack: Callable[..., Stack],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    config = config_on_services(broker, redis_service, ray_cluster.head, tmp_path / "run", tmp_path / "shm")
    only_plugins(config, PLUGIN)
    config.plugins[PLUGIN] = PluginConfig(enabled=True, pool_size=POOL_SIZE, scheduling_strategy="SPREAD")
    stack = start_stack(config)  # gateway and stream worker; the worker joins the cluster (ray.address)
    ready_s = time.monotonic() - started
    _assert_pool_on(ray_cluster, [ray_cluster.head_id, ray_cluster.node_id])

    load = KillUnderLoad(stack, ray_cluster)
    observed = load.run()
    frames = len(load.frame_ids)
    assert [ack.code for ack in load.acks] == [OK] * frames, "every frame acknowledged"
    counts = asyncio.run(ledger_settled(config, frames, 60))
    # exactly one verdict each (a fallback, manual inspection, is one too), nothing in flight or unaccounted
    assert (counts.accepted, counts.verdicts + counts.fallbacks, counts.in_flight, counts.imbalance) == (
        frames, frames, 0, 0,
    )  # fmt: skip
    verdicts = asyncio.run(_verdicts(config, load.frame_ids))
    fallbacks = [verdict for verdict in verdicts.values() if verdict.fallback_reason]
    # a batch whose actor died with the node is tried again frame by frame, and a frame alone once more
    # on another actor (ActorPool.assess): the plugin decides every frame, none goes to an officer
    assert counts.fallbacks == 0, [v.results for v in fallbacks]
    lost = next(node for node in observed.nodes if node["id"] == ray_cluster.node_id)
    assert not lost["alive"]
    alive = [host for host in observed.hosts if host["state"] == "ALIVE"]
    assert [host["node"] for host in alive] == [ray_cluster.head_id] * POOL_SIZE, "the pool whole again"
    replaced_s = max(host["start_s"] for host in alive) - load.killed_at_s
    assert replaced_s > 0, "a replacement started after the kill"

    waits = [
        (_seconds(verdict.accepted_time), _seconds(verdict.decided_time) - _seconds(verdict.accepted_time))
        for verdict in verdicts.values()
    ]
    before = max(wait_s for accepted_s, wait_s in waits if accepted_s < load.killed_at_s)
    after = max(wait_s for accepted_s, wait_s in waits if accepted_s >= load.killed_at_s)
    log = (Path(config.run_dir) / "worker.log").read_text()
    outlived = ", ".join(sorted({process.name for process in load.outlived})) or "nothing"
    killed = ", ".join(sorted(process.name for process in load.node_processes))
    print(
        f"\nray cluster: head and second node up in {ray_cluster.started_s:.1f} s; gateway and worker "
        f"ready {ready_s:.1f} s later, the pool's {POOL_SIZE} actors on both nodes\n"
        f"SIGKILLed the second node's process group after {KILL_AFTER_S:g} s of {RATE_HZ:g} frames/s "
        f"from {len(SOURCES)} sources; its processes: {killed}; outlived the kill by 1 s: "
        f"{outlived}; all gone {load.node_gone_s:.1f} s after it\n"
        f"Ray marked the node dead {observed.seen['node lost'] - load.killed_at_s:.1f} s after the kill "
        f"({lost['death']}); a replacement actor alive on the head {replaced_s:.1f} s after it\n"
        f"plugin actors, times from the kill: {_actors_since(observed, ray_cluster, load.killed_at_s)}\n"
        f"{log.count('failed a batch (actor_died)')} batch(es) failed on actors lost with the node; "
        f"{log.count('a replacement actor could not get ready')} replacement(s) placed on the lost node "
        f"before Ray knew it was lost, replaced again\n"
        f"{frames} frames: {counts.verdicts} verdicts, {counts.fallbacks} fallbacks; longest "
        f"ingest-to-verdict {before:.2f} s before the kill, {after:.2f} s after it; test body "
        f"{time.monotonic() - started:.1f} s"
    )
