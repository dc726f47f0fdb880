"""Reading /metrics endpoints back: counters, histogram quantiles, the per-checkpoint table."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str, timeout_s: float = 5.0) -> Samples:
    """Every sample of a /metrics endpoint, by sample name."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode()
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), float(sample.value)))
    return samples


def merge(*scrapes: Samples) -> Samples:
    merged: Samples = defaultdict(list)
    for samples in scrapes:
        for name, values in samples.items():
            merged[name].extend(values)
    return merged


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(value for found, value in samples.get(name, []) if _matches(found, labels))


def _matches(sample_labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(sample_labels.get(k) == v for k, v in wanted.items())


def quantile(samples: Samples, histogram: str, q: float, **labels: str) -> float | None:
    """Prometheus' histogram_quantile over all series of a histogram (linear within a bucket)."""
    buckets: dict[float, float] = defaultdict(float)
    for sample_labels, value in samples.get(f"{histogram}_bucket", []):
        if _matches(sample_labels, labels):
            buckets[float(sample_labels["le"])] += value
    return quantile_of(sorted(buckets.items()), q)


def quantile_of(buckets: Iterable[tuple[float, float]], q: float) -> float | None:
    ordered = list(buckets)
    if not ordered or ordered[-1][1] == 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / span if span else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass(frozen=True)
class CheckpointRow:
    checkpoint: str
    frames: float
    per_second: float
    p50_s: float | None
    p99_s: float | None
    what: str


CHECKPOINTS = (
    # checkpoint, frames counter, latency histogram, what the latency measures
    (
        "ingest",
        "smartcustoms_ingest_frames_accepted_total",
        "smartcustoms_ingest_duration_seconds",
        "first chunk to ack",
    ),
    (
        "stream",
        "smartcustoms_stream_frames_total",
        "smartcustoms_stream_delay_seconds",
        "accepted to consumed",
    ),
    (
        "dispatch",
        "smartcustoms_dispatch_frames_total",
        "smartcustoms_dispatch_duration_seconds",
        "batch queued to results",
    ),
    (
        "plugin",
        "smartcustoms_plugin_frames_total",
        "smartcustoms_plugin_duration_seconds",
        "plugin time per batch",
    ),
    (
        "sink",
        "smartcustoms_sink_verdicts_total",
        "smartcustoms_frame_latency_seconds",
        "end to end: accepted to verdict stored",
    ),
)


def checkpoint_rows(samples: Samples, duration_s: float) -> list[CheckpointRow]:
    rows = []
    for checkpoint, counter, histogram, what in CHECKPOINTS:
        frames = total(samples, counter)
        rows.append(
            CheckpointRow(
                checkpoint,
                frames,
                frames / duration_s if duration_s > 0 else 0.0,
                quantile(samples, histogram, 0.5),
                quantile(samples, histogram, 0.99),
                what,
            )
        )
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def format_table(rows: list[CheckpointRow]) -> str:
    lines = [
        f"{'checkpoint':<10} {'frames':>8} {'frames/s':>9} {'p50 ms':>8} {'p99 ms':>8}  latency of",
        "-" * 78,
    ]
    lines += [
        f"{r.checkpoint:<10} {r.frames:>8.0f} {r.per_second:>9.1f} {_ms(r.p50_s):>8} {_ms(r.p99_s):>8}"
        f"  {r.what}"
        for r in rows
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class SeriesLatency:
    name: str  # the label's value: a modality, a plugin
    count: float
    p50_s: float | None
    p99_s: float | None


def latency_by(samples: Samples, histogram: str, label: str) -> list[SeriesLatency]:
    """Each series of a histogram by one of its labels, with its count and quantiles, the slowest p99
    first: where the tail of a checkpoint's latency comes from."""
    names = {labels[label] for labels, _ in samples.get(f"{histogram}_count", []) if label in labels}
    rows = []
    for name in names:
        count = total(samples, f"{histogram}_count", **{label: name})
        if count:
            p50, p99 = (quantile(samples, histogram, q, **{label: name}) for q in (0.5, 0.99))
            rows.append(SeriesLatency(name, count, p50, p99))
    return sorted(rows, key=lambda row: (-(row.p99_s or 0.0), row.name))


TAIL_SERIES = (
    # what, histogram, label: the end-to-end latency per modality, and each plugin's time per batch
    ("frames", "smartcustoms_frame_latency_seconds", "modality"),
    ("plugin", "smartcustoms_plugin_duration_seconds", "plugin"),
)


def format_tail(samples: Samples) -> str:
    """Where the end-to-end tail comes from: frames by modality (accepted to verdict stored) and each
    plugin's time per batch, slowest p99 first; the checkpoint table sums them over everything."""
    lines = [f"{'tail of':<10} {'':<24} {'count':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    for what, histogram, label in TAIL_SERIES:
        lines += [
            f"{what:<10} {row.name:<24} {row.count:>8.0f} {_ms(row.p50_s):>8} {_ms(row.p99_s):>8}"
            for row in latency_by(samples, histogram, label)
        ]
    return "\n".join(lines)


def format_decisions(samples: Samples) -> str:
    """Verdicts stored, by modality and decision (fallbacks are the manual-inspection column)."""
    decisions = ("clear", "alarm", "manual_inspection")
    modalities = sorted(
        {labels["modality"] for labels, _ in samples.get("smartcustoms_sink_verdicts_total", [])}
    )
    lines = [f"{'verdicts':<10} " + " ".join(f"{d:>18}" for d in decisions)]
    for modality in modalities:
        counts = [
            total(samples, "smartcustoms_sink_verdicts_total", modality=modality, decision=d)
            for d in decisions
        ]
        if any(counts):
            lines.append(f"{modality:<10} " + " ".join(f"{c:>18.0f}" for c in counts))
    return "\n".join(lines)
