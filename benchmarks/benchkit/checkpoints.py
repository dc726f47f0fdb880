"""What every per-checkpoint suite shares: alternating bare and framework rounds, figures, the report.

Each checkpoint benchmark times the framework path with ``benchmark.pedantic`` and its bare baseline
by hand, one bare round just before each framework round (in pedantic's untimed ``setup``), so both
see the same machine at the same moment. Rates come from the median round of each path; the ratio
``framework_over_bare`` is framework throughput over bare throughput (1.0: no cost at all).

Figures stored in ``extra_info`` (names carry their units; see benchmarks/README.md):
``checkpoint``, ``case``, ``frames_per_s``, ``mb_per_s``, ``records_per_s`` and their ``bare_*`` twins,
``framework_over_bare``, ``latency_p50_ms`` / ``latency_p99_ms`` (and ``bare_*``), ``machine``; the gateway's
4 KiB case also ``bare_publish_*``, ``bare_publish_over_bare``, ``framework_over_bare_publish``, and the
end-to-end case ``floor_latency_p50_ms`` / ``floor_latency_p99_ms`` (the floors, benchmarks/README.md).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .machine import describe, format_description

CHECKPOINTS = ("gateway", "stream", "dispatch", "kernel", "sink", "state", "audit", "end_to_end")


@dataclass
class Alternating:
    """Bare rounds run in pedantic's setup; framework rounds are timed by pytest-benchmark and here."""

    framework: Callable[..., Any]
    bare: Callable[[], Any]
    prepare: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    bare_round_s: list[float] = field(default_factory=list)
    bare_results: list[Any] = field(default_factory=list)
    framework_round_s: list[float] = field(default_factory=list)

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        started = time.perf_counter()
        self.bare_results.append(self.bare())
        self.bare_round_s.append(time.perf_counter() - started)
        return self.prepare()

    def timed(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = self.framework(*args, **kwargs)
        self.framework_round_s.append(time.perf_counter() - started)
        return result

    @property
    def bare_median_s(self) -> float:
        return statistics.median(self.bare_round_s)

    @property
    def framework_median_s(self) -> float:
        """The same rounds pytest-benchmark times (also with ``--benchmark-disable``)."""
        return statistics.median(self.framework_round_s)


def run_alternating(
    benchmark: Any,
    framework: Callable[..., Any],
    bare: Callable[[], Any],
    rounds: int,
    prepare: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]] | None = None,
    teardown: Callable[..., None] | None = None,
) -> tuple[Any, Alternating]:
    """``rounds`` of (bare, framework); the last framework result and every round's times.

    ``prepare`` builds each framework round's arguments (untimed); ``teardown`` cleans up after it.
    """
    alternating = Alternating(framework, bare, prepare or (lambda: ((), {})))
    result = benchmark.pedantic(
        alternating.timed, setup=alternating.setup, teardown=teardown, rounds=rounds, iterations=1
    )
    return result, alternating


def ms(seconds: Sequence[float] | np.ndarray, q: float) -> float:
    return round(float(np.percentile(np.asarray(seconds), q)) * 1000, 3)


def rates(
    prefix: str, seconds: float, frames: int, payload_bytes: int, records: int | None = None
) -> dict[str, float]:
    """frames/s, MB/s (10^6 bytes of payload) and, if given, records/s for one path."""
    figures = {
        f"{prefix}frames_per_s": round(frames / seconds, 1),
        f"{prefix}mb_per_s": round(frames * payload_bytes / seconds / 1e6, 2),
    }
    if records is not None:
        figures[f"{prefix}records_per_s"] = round(records / seconds, 1)
    return figures


def ratio(framework_per_s: float, bare_per_s: float) -> float:
    return round(framework_per_s / bare_per_s, 4) if bare_per_s else float("nan")


def record(
    benchmark: Any, summary: list[dict[str, Any]], checkpoint: str, case: str, figures: dict[str, Any]
) -> dict[str, Any]:
    """Store the figures in ``extra_info``, add a summary row, print them with the machine."""
    assert checkpoint in CHECKPOINTS, checkpoint
    machine = describe()
    row = {"checkpoint": checkpoint, "case": case, **figures}
    benchmark.extra_info.update({**row, "machine": machine})
    summary.append(row)
    print(f"\n{checkpoint} {case}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    for line in format_description(machine):
        print(line)
    return row


def _cell(value: object, width: int, digits: int = 1) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:>{width},.{digits}f}"
    return f"{'-':>{width}}"


def format_checkpoint_summary(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per checkpoint benchmark: framework and bare rates, their ratio, latency."""
    lines = [
        "checkpoints: framework path vs its bare baseline in the same run (rates from median rounds); "
        "fw/bare = framework rate / bare rate;",
        "p50/p99 = per frame (gateway: send -> ack under load), per call (dispatch, kernels, sink) or "
        "ingest -> verdict (end_to_end)",
        f"{'checkpoint':<10} {'case':<26} {'frames/s':>10} {'bare':>10} {'MB/s':>8} {'bare':>8} "
        f"{'fw/bare':>7} {'ovh %':>6} {'p50 ms':>8} {'p99 ms':>8} {'bare p50':>8}",
        "-" * 118,
    ]
    for r in rows:
        lines.append(
            f"{r['checkpoint']:<10} {r['case']:<26} {_cell(r.get('frames_per_s'), 10)} "
            f"{_cell(r.get('bare_frames_per_s'), 10)} {_cell(r.get('mb_per_s'), 8)} "
            f"{_cell(r.get('bare_mb_per_s'), 8)} {_cell(r.get('framework_over_bare'), 7, 3)} "
            f"{_cell(r.get('overhead_pct'), 6)} {_cell(r.get('latency_p50_ms'), 8, 2)} "
            f"{_cell(r.get('latency_p99_ms'), 8, 2)} {_cell(r.get('bare_latency_p50_ms'), 8, 2)}"
        )
    for r in rows:
        if "bare_publish_frames_per_s" in r:  # the gateway's floor with a Kafka publish before each ack
            lines.append(
                f"  {r['checkpoint']} {r['case']}: a bare server that publishes before its ack "
                f"{r['bare_publish_frames_per_s']:,.0f} frames/s = {r['bare_publish_over_bare']:.3f} of "
                f"the bare one; the gateway = {r['framework_over_bare_publish']:.3f} of it"
            )
        if "floor_latency_p99_ms" in r:  # the path's own latency, sent -> taken by a count-only agent
            lines.append(
                f"  {r['checkpoint']} {r['case']}: the floor of the path at the same rate, sent -> taken, "
                f"p50 {r['floor_latency_p50_ms']:.1f} / p99 {r['floor_latency_p99_ms']:.1f} ms"
            )
    return lines
