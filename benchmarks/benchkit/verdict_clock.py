"""bench_clock: a result-hook plugin that writes down when each verdict was stored.

Enabled only by the benchmarks (``extra_plugins``). The stream worker calls ``smartcustoms_verdict``
right after the sink stored a batch of verdicts in Redis, so the time written here is the moment a
frame's verdict became readable. One tab-separated line per verdict:
``frame_id  accepted_s  decided_s  stored_s`` (Unix seconds; the gateway, worker and benchmark share a
clock because they run on one host).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import IO, Any

from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import PluginSpec
from smartcustoms.v1 import results_pb2

SPEC = PluginSpec(
    name="bench_clock",
    version="1.0.0",
    produces=("timings",),
    description="records when each verdict was stored (benchmarks only)",
    enabled_by_default=False,
)

_out: dict[str, IO[str]] = {}


@hookimpl
def smartcustoms_plugin_spec() -> PluginSpec:
    return SPEC


@hookimpl
def smartcustoms_configure(settings: Mapping[str, Any]) -> None:
    _out["file"] = open(settings["path"], "a", buffering=1)  # noqa: SIM115  (closed at shutdown)


@hookimpl
def smartcustoms_verdict(verdict: results_pb2.Verdict) -> None:
    stored_s = time.time()
    accepted_s = verdict.accepted_time.ToNanoseconds() / 1e9
    decided_s = verdict.decided_time.ToNanoseconds() / 1e9
    _out["file"].write(f"{verdict.frame_id}\t{accepted_s:.6f}\t{decided_s:.6f}\t{stored_s:.6f}\n")


@hookimpl
def smartcustoms_shutdown() -> None:
    out = _out.pop("file", None)
    if out is not None:
        out.close()


def read_clock(path: str) -> dict[str, tuple[float, float, float]]:
    """frame id -> (accepted_s, decided_s, stored_s), first line per frame wins."""
    times: dict[str, tuple[float, float, float]] = {}
    with open(path) as lines:
        for line in lines:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                times.setdefault(parts[0], (float(parts[1]), float(parts[2]), float(parts[3])))
    return times
