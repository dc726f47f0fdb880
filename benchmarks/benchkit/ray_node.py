"""A second Ray node joining the session's head, started the way a site starts one on another host.

``ray start --address HEAD --block --num-cpus N`` as a process of its own, with the head's token, a temp
dir of its own and a custom resource naming it (as ``tests/integration/test_ray_cluster.py`` starts its
second node). ``placement`` asks Ray's GCS, from a driver in a subprocess, which node each live plugin
actor is on. ``stop`` ends the node's process group within a deadline, then SIGKILLs any process still
running with the node's ``RAY_TMPDIR`` (workers Ray started in process groups of their own).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from smartcustoms.runtime.ray_auth import token_env
from smartcustoms.runtime.services import EmbeddedRay, EmbeddedRayNode

NODE_RESOURCE = "bench_second_node"
STOP_DEADLINE_S = 20.0
OBSERVE_TIMEOUT_S = 60.0

# Nodes and the live PluginHost actors (their node) from Ray's GCS; ``ray._private.state`` reads the tables
# the dashboard would, and these nodes run without it.
OBSERVER = """
import json, sys, time
import ray
from ray._private import state

address, wanted_nodes, timeout_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ray.init(address=address, log_to_driver=False, logging_level="ERROR")
deadline = time.monotonic() + timeout_s
while sum(n["Alive"] for n in ray.nodes()) < wanted_nodes and time.monotonic() < deadline:
    time.sleep(0.1)
nodes = [{"id": n["NodeID"], "alive": n["Alive"], "resources": sorted(n["Resources"])} for n in ray.nodes()]
actors = [{"node": a["Address"]["NodeID"], "job": a["JobID"]} for a in state.actors().values()
          if a["ActorClassName"] == "PluginHost" and a["State"] == "ALIVE"]
print(json.dumps({"nodes": nodes, "actors": actors}))
ray.shutdown()
"""


class JoiningRayNode(EmbeddedRayNode):
    """A node of one CPU joining the session's head with a resource of its own (``NODE_RESOURCE``), and
    where the plugin actors were placed."""

    def __init__(self, run_dir: Path, head: EmbeddedRay, num_cpus: int = 1) -> None:
        super().__init__(run_dir, head, num_cpus, {NODE_RESOURCE: 1})

    def placement(self, wanted_nodes: int = 2) -> dict[str, Any]:
        """Once ``wanted_nodes`` are alive: this node's id, the head's, and the plugin actors on each."""
        env = {**os.environ, "RAY_TMPDIR": str(self.head.ray_tmpdir), **token_env(self.head.auth_token_path)}
        done = subprocess.run(
            [sys.executable, "-c", OBSERVER, self.head.address, str(wanted_nodes), str(OBSERVE_TIMEOUT_S)],
            env=env,
            capture_output=True,
            text=True,
            timeout=OBSERVE_TIMEOUT_S + 60,
        )
        assert done.returncode == 0, f"ray observer: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        report = json.loads(done.stdout.strip().splitlines()[-1])
        alive = [n for n in report["nodes"] if n["alive"]]
        own = [n["id"] for n in alive if NODE_RESOURCE in n["resources"]]
        heads = [n["id"] for n in alive if NODE_RESOURCE not in n["resources"]]
        return {
            "nodes_alive": len(alive),
            "actors_on_node": sum(a["node"] in own for a in report["actors"]),
            "actors_on_head": sum(a["node"] in heads for a in report["actors"]),
        }

    def stop(self, timeout_s: float | None = None) -> int | None:
        """The ``ray start`` process group within its deadline, then any straggler of this node."""
        code = super().stop(STOP_DEADLINE_S if timeout_s is None else timeout_s)
        deadline = time.monotonic() + STOP_DEADLINE_S
        while (left := self.stragglers()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.stragglers():  # the fallback
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if left:
            time.sleep(0.5)
        if self.ray_tmpdir.name.startswith("scray-"):  # the short dir outside run_dir
            shutil.rmtree(self.ray_tmpdir, ignore_errors=True)
        return code

    def stragglers(self) -> list[int]:
        """Processes still running with this node's ``RAY_TMPDIR`` (only this node's workers have it)."""
        wanted = f"RAY_TMPDIR={self.ray_tmpdir}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):  # exited meanwhile, or not ours to read
                    if wanted in (entry / "environ").read_bytes().split(b"\0"):
                        state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                        if state not in ("Z", "X"):
                            found.append(int(entry.name))
        return found
