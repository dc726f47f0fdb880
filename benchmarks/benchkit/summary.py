"""The per-benchmark numbers, as stored in ``extra_info`` and printed in the summary table."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .baselines import MIN_BASELINE_MESSAGES, BareRun, FaustCount
from .floor import FloorRun
from .framework import FrameTimes, ThroughputRun, Workload


def _ms(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 2)


def _ms_or_none(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def figures(
    workload: Workload,
    throughput: ThroughputRun,
    latency: FrameTimes,
    bare: BareRun,
    faust: FaustCount,
    baseline_message_bytes: int,
    floor: FloorRun | None = None,
) -> dict[str, Any]:
    """Every number of one benchmark, flat, in the units its name says."""
    loaded = throughput.times
    floor_figures = {}
    if floor is not None:
        floor_figures = {
            "floor_frames_per_s": round(floor.frames_per_s, 1),
            "floor_steady_frames_per_s": round(floor.steady_per_s, 1),
            "floor_over_faust": round(floor.steady_per_s / faust.per_s, 4),  # steady over steady
            "framework_over_floor": round(throughput.frames_per_s / floor.frames_per_s, 4),
        }
    return {
        "case": workload.name,
        "frames": throughput.frames,
        "payload_bytes": throughput.payload_bytes,
        "records_per_frame": workload.records_per_frame,
        "window_frames": workload.window_frames,
        "elapsed_s": round(throughput.elapsed_s, 3),
        "frames_per_s": round(throughput.frames_per_s, 1),
        "megabytes_per_s": round(throughput.megabytes_per_s, 1),
        "records_per_s": round(throughput.frames_per_s * workload.records_per_frame, 1),
        "latency_frames": len(latency.sent_s),
        "latency_rate_fps": workload.latency_rate,
        "latency_p50_ms": _ms(latency.latency_s, 50),
        "latency_p99_ms": _ms(latency.latency_s, 99),
        "latency_ingest_p50_ms": _ms(latency.ingest_s, 50),
        "latency_pipeline_p50_ms": _ms(latency.pipeline_s, 50),
        "latency_sink_p50_ms": _ms(latency.sink_s, 50),
        "loaded_latency_p50_ms": _ms(loaded.latency_s, 50),
        "loaded_latency_p99_ms": _ms(loaded.latency_s, 99),
        "loaded_ingest_p50_ms": _ms(loaded.ingest_s, 50),
        "loaded_pipeline_p50_ms": _ms(loaded.pipeline_s, 50),
        "loaded_sink_p50_ms": _ms(loaded.sink_s, 50),
        "loaded_histogram_p50_ms": _ms_or_none(throughput.histogram_p50_s),
        "loaded_histogram_p99_ms": _ms_or_none(throughput.histogram_p99_s),
        "baseline_messages": bare.messages,
        "baseline_message_bytes": baseline_message_bytes,
        "bare_produce_per_s": round(bare.produce_per_s, 1),
        "bare_consume_per_s": round(bare.consume_per_s, 1),
        "bare_consume_span_per_s": round(bare.consume_span_per_s, 1),
        "bare_loop_per_s": round(bare.loop_per_s, 1),
        "faust_count_per_s": round(faust.per_s, 1),
        "faust_count_span_per_s": round(faust.span_per_s, 1),
        "framework_over_bare": round(throughput.frames_per_s / bare.loop_per_s, 4),
        "framework_over_faust": round(throughput.frames_per_s / faust.per_s, 4),
        **floor_figures,
        # other work on the machine skews every number: 1-minute load average when the case ended
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _size(size_bytes: int) -> str:
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def format_summary(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "framework: gRPC send -> verdict stored in Redis, no-op plugin; p50/p99: frames sent at a light",
        "fixed rate; loaded: while the throughput run saturates the pipeline. Baselines move the Kafka",
        f"messages the framework published ('msg' bytes each), repeated to {MIN_BASELINE_MESSAGES} "
        "(or 300 MiB); fw/x = framework frames/s over their messages/s; load = 1-minute load average.",
        "",
        f"{'case':<11} {'frames':>6} {'frames/s':>8} {'MB/s':>6} {'records/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'loaded p50/p99':>15} | {'msg':>8} {'bare/s':>7} {'faust/s':>7} "
        f"{'fw/bare':>7} {'fw/faust':>8} {'load':>5}",
        "-" * 132,
    ]
    for r in rows:
        loaded = f"{r['loaded_latency_p50_ms']:.0f} / {r['loaded_latency_p99_ms']:.0f}"
        lines.append(
            f"{r['case']:<11} {r['frames']:>6} {r['frames_per_s']:>8.1f} {r['megabytes_per_s']:>6.1f} "
            f"{r['records_per_s']:>9.0f} {r['latency_p50_ms']:>7.1f} {r['latency_p99_ms']:>7.1f} "
            f"{loaded:>15} | {_size(r['baseline_message_bytes']):>8} {r['bare_loop_per_s']:>7.0f} "
            f"{r['faust_count_per_s']:>7.0f} {r['framework_over_bare']:>7.4f} "
            f"{r['framework_over_faust']:>8.3f} {r['load_avg_1m']:>5.1f}"
        )
    lines += [
        "",
        "latency split, p50 ms (light rate | loaded): ingest = send -> accepted by the gateway, "
        "pipeline = accepted -> decided, sink = decided -> stored",
    ]
    for r in rows:
        light = [r[f"latency_{part}_p50_ms"] for part in ("ingest", "pipeline", "sink")]
        loaded = [r[f"loaded_{part}_p50_ms"] for part in ("ingest", "pipeline", "sink")]
        lines.append(
            f"{r['case']:<11} at {r['latency_rate_fps']:>4g} frames/s: "
            + "  ".join(f"{v:>7.1f}" for v in light)
            + " | loaded: "
            + "  ".join(f"{v:>7.1f}" for v in loaded)
            + f"  (worker histogram p50/p99 {r['loaded_histogram_p50_ms']} / {r['loaded_histogram_p99_ms']})"
        )
    floors = [r for r in rows if "floor_frames_per_s" in r]
    if floors:
        lines += [
            "",
            "floor: the same client and frames through a bare gRPC server that acks each frame once "
            "published (acks=1) and a count-only Faust agent consuming meanwhile (benchkit/floor.py)",
        ]
    for r in floors:
        lines.append(
            f"{r['case']:<11} floor {r['floor_frames_per_s']:>8.1f} frames/s (steady "
            f"{r['floor_steady_frames_per_s']:.1f} = {r['floor_over_faust']:.3f} of count-only Faust's "
            f"steady rate); framework = {r['framework_over_floor']:.3f} of the floor, first sent to last done"
        )
    return lines
