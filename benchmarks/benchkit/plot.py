"""A PNG of one benchmark run: throughput, framework / bare and latency, per checkpoint.

    python -m benchkit.plot RESULTS.json OUT.png        (from benchmarks/, or with PYTHONPATH=benchmarks)

One row per benchmark, grouped by checkpoint (gateway, stream, dispatch, kernel, sink, end to end):

- throughput in frames/s (log scale): the framework path, and its bare baseline beside it;
- framework / bare: ``framework_over_bare`` (and ``framework_over_faust`` where measured), with 1.0 (no
  cost) and 0.9 (the issue's goals) marked;
- latency in ms (log scale): p50 and p99 as the benchmark defines them (see benchmarks/README.md); a
  kernel benchmark with no latency figure shows its pytest-benchmark median time (one call).

Needs matplotlib (the Agg backend: no display). Like ``compare``, it reads only the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT_ORDER = ("gateway", "stream", "dispatch", "kernel", "sink", "end_to_end")
COLOURS = {
    "gateway": "#1f77b4",
    "stream": "#2ca02c",
    "dispatch": "#9467bd",
    "kernel": "#ff7f0e",
    "sink": "#8c564b",
    "end_to_end": "#d62728",
}
BARE_COLOUR = "#b0b0b0"
GOAL_RATIO = 0.9


@dataclass(frozen=True)
class Row:
    checkpoint: str
    label: str
    frames_per_s: float | None
    bare_per_s: float | None
    over_bare: float | None
    over_faust: float | None
    p50_ms: float | None
    p99_ms: float | None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def checkpoint_of(bench: Mapping[str, Any]) -> str:
    """``extra_info["checkpoint"]``, or what the file says for suites that predate it."""
    named = (bench.get("extra_info") or {}).get("checkpoint")
    if named:
        return str(named)
    fullname = str(bench.get("fullname", ""))
    if "test_bench_pipeline" in fullname:
        return "end_to_end"
    return "kernel"  # test_bench_ct_vehicle.py, test_bench_xray_detector.py: plugin kernels alone


def row_of(bench: Mapping[str, Any]) -> Row:
    info = bench.get("extra_info") or {}
    checkpoint = checkpoint_of(bench)
    case = info.get("case") or str(bench.get("name", "?")).removeprefix("test_")
    latency_p50 = _number(info.get("latency_p50_ms")) or _number(info.get("median_ms"))
    if latency_p50 is None and checkpoint == "kernel":  # a kernel benchmark's round is one call
        median_s = _number((bench.get("stats") or {}).get("median"))
        latency_p50 = median_s * 1000 if median_s else None
    return Row(
        checkpoint=checkpoint,
        label=f"{checkpoint}: {case}",
        frames_per_s=_number(info.get("frames_per_s")),
        bare_per_s=_number(info.get("bare_frames_per_s")) or _number(info.get("bare_loop_per_s")),
        over_bare=_number(info.get("framework_over_bare")),
        over_faust=_number(info.get("framework_over_faust")),
        p50_ms=latency_p50,
        p99_ms=_number(info.get("latency_p99_ms")),
    )


def rows_of(document: Mapping[str, Any]) -> list[Row]:
    rows = [row_of(bench) for bench in document.get("benchmarks", [])]
    order = {name: index for index, name in enumerate(CHECKPOINT_ORDER)}
    return sorted(rows, key=lambda row: order.get(row.checkpoint, len(order)))  # stable: file order within


def title_of(document: Mapping[str, Any]) -> str:
    machine = (document.get("machine_info") or {}).get("smartcustoms") or {}
    when = str(document.get("datetime", ""))[:19].replace("T", " ")
    where = f"{machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} cores" if machine else ""
    return f"smartcustoms benchmarks {when}  {where}".strip()


def plot(document: Mapping[str, Any], out: Path) -> int:
    """Write the PNG; returns the number of benchmarks drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    rows = rows_of(document)
    if not rows:
        raise ValueError("no benchmarks in the results")
    y = list(range(len(rows)))[::-1]  # first row at the top
    height = 1.6 + 0.42 * len(rows)
    figure, (throughput, ratios, latency) = plt.subplots(
        1, 3, figsize=(17, height), sharey=True, gridspec_kw={"width_ratios": [1.3, 1.0, 1.1]}
    )
    colours = [COLOURS.get(row.checkpoint, "#333333") for row in rows]
    _throughput(throughput, rows, y, colours)
    _ratios(ratios, rows, y, colours)
    _latency(latency, rows, y, colours)
    throughput.set_yticks(y, [row.label for row in rows], fontsize=8)
    for tick, colour in zip(throughput.get_yticklabels(), colours, strict=True):
        tick.set_color(colour)
    for axes in (throughput, latency):  # plain numbers on the log axes: 1, 2, 5 x 10^n when they fit
        low, high = axes.get_xlim()
        subs = (1.0, 2.0, 5.0) if high / max(low, 1e-9) < 1e3 else (1.0,)
        axes.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
        axes.xaxis.set_major_formatter(ticker.FuncFormatter(_plain))
        axes.xaxis.set_minor_formatter(ticker.NullFormatter())
    figure.suptitle(title_of(document), fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return len(rows)


def _plain(value: float, _: object) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _barh_pairs(
    axes: Any, y: Sequence[int], first: Sequence[float | None], second: Sequence[float | None],
    colours: Sequence[str], second_colour: str | Sequence[str], labels: tuple[str, str],
) -> None:  # fmt: skip
    height = 0.38
    axes.barh([v + height / 2 for v in y], [f or 0 for f in first], height, color=colours, label=labels[0])
    axes.barh(
        [v - height / 2 for v in y], [s or 0 for s in second], height, color=second_colour, label=labels[1]
    )


def _throughput(axes: Any, rows: Sequence[Row], y: Sequence[int], colours: Sequence[str]) -> None:
    framework = [row.frames_per_s for row in rows]
    bare = [row.bare_per_s for row in rows]
    _barh_pairs(axes, y, framework, bare, colours, BARE_COLOUR, ("framework", "bare"))
    for position, value in zip(y, framework, strict=True):
        if value:
            axes.text(value, position + 0.19, f" {value:,.0f}", va="center", fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("frames (or messages, verdicts) per second, log scale")
    axes.set_title("throughput: framework (colour) vs bare (grey)", fontsize=9)
    axes.grid(axis="x", which="both", alpha=0.3)


def _ratios(axes: Any, rows: Sequence[Row], y: Sequence[int], colours: Sequence[str]) -> None:
    over_bare = [row.over_bare or 0 for row in rows]
    axes.barh(y, over_bare, 0.6, color=colours)
    for position, row in zip(y, rows, strict=True):
        if row.over_bare:
            axes.text(row.over_bare, position, f" {row.over_bare:.3g}", va="center", fontsize=7)
        if row.over_faust:
            axes.plot([row.over_faust], [position], marker="D", color="black", markersize=4)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.axvline(GOAL_RATIO, color="red", linewidth=0.8, linestyle="--")
    axes.set_xlim(0, max([1.2, *[r.over_bare or 0 for r in rows], *[r.over_faust or 0 for r in rows]]) * 1.1)
    axes.set_xlabel("framework / bare (diamond: / count-only Faust); red: 0.9")
    axes.set_title("framework over bare", fontsize=9)
    axes.grid(axis="x", alpha=0.3)


def _latency(axes: Any, rows: Sequence[Row], y: Sequence[int], colours: Sequence[str]) -> None:
    p50 = [row.p50_ms for row in rows]
    p99 = [row.p99_ms for row in rows]
    _barh_pairs(axes, y, p50, p99, colours, "#555555", ("p50", "p99"))
    for position, low, high in zip(y, p50, p99, strict=True):
        if high or low:
            text = f" {low:.3g}" if low else ""
            text += f" / {high:.3g}" if high else ""
            axes.text(max(filter(None, (low, high))), position, text, va="center", fontsize=7)
    axes.axvline(50, color="red", linewidth=0.8, linestyle="--")
    axes.set_xscale("log")
    axes.set_xlabel("ms, log scale (red: 50 ms)")
    axes.set_title("latency p50 (colour) / p99 (dark)", fontsize=9)
    axes.grid(axis="x", which="both", alpha=0.3)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchkit.plot", description="PNG of a benchmark run")
    parser.add_argument("results", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("out", help="PNG to write")
    args = parser.parse_args(argv)
    with open(args.results) as source:
        document = json.load(source)
    drawn = plot(document, Path(args.out))
    print(f"wrote {args.out} ({drawn} benchmarks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
