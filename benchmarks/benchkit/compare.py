"""Compare two pytest-benchmark JSON files and flag what got worse beyond a threshold.

    python -m benchkit.compare OLD.json NEW.json [--threshold 10]     (from benchmarks/, or with
                                                                       PYTHONPATH=benchmarks)

For each benchmark found in both files (matched by ``fullname``) it compares:

- the benchmark's own time (``stats.median``, seconds): lower is better;
- every number in ``extra_info`` whose name says how to read it: throughputs (names ending in
  ``_per_s``: ``frames_per_s``, ``mb_per_s``, ``megabytes_per_s``, ``records_per_s``, ...) and ratios
  (``framework_over_bare``, ``framework_over_faust``, ...) are better higher; latencies (names ending in
  ``_ms``) are better lower. Other numbers (counts, sizes, load average) are not compared.

A figure of a baseline (names starting with ``bare_`` or ``faust_``) measures the machine, not the
framework: when it drops, the table says so (``slower machine?``) but the exit status ignores it.
Everything else that got worse by more than ``--threshold`` percent is a ``REGRESSION`` and makes the
exit status 1. Latencies are compared only with ``--latency`` (p99 over a few dozen frames moves by
tens of percent from run to run).

With ``--ratios-decide``, a benchmark that carries a ratio to its baseline (``*_over_*``) is judged by
its ratios alone: its absolute figures and time are still shown, as ``worse (ratio decides)`` when
they dropped, but only a ratio that dropped makes a regression. On a shared 2-core machine absolute
rates move by 20-40 % between runs of the same code while framework and bare move together.

This module imports nothing from the rest of benchkit, so ``python benchmarks/benchkit/compare.py``
works as well.
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

DEFAULT_THRESHOLD_PCT = 10.0
BASELINE_PREFIXES = ("bare_", "faust_")
TIME_FIGURE = "time_median_s"


@dataclass(frozen=True)
class Change:
    """One figure of one benchmark in both runs."""

    benchmark: str
    figure: str
    old: float
    new: float
    higher_is_better: bool
    baseline: bool
    decides: bool = True  # False: shown, but its benchmark's ratios decide (--ratios-decide)

    @property
    def change_pct(self) -> float:
        """Relative change, in percent of the old value (positive: the number went up)."""
        if self.old == 0:
            return 0.0 if self.new == 0 else math.copysign(math.inf, self.new)
        return (self.new - self.old) / abs(self.old) * 100

    @property
    def worse_pct(self) -> float:
        """How much worse, in percent (negative: better)."""
        return -self.change_pct if self.higher_is_better else self.change_pct

    def status(self, threshold_pct: float) -> str:
        if self.worse_pct > threshold_pct:
            if self.baseline:
                return "slower machine?"
            return "REGRESSION" if self.decides else "worse (ratio decides)"
        if self.worse_pct < -threshold_pct:
            return "improved"
        return "ok"

    def is_regression(self, threshold_pct: float) -> bool:
        return self.status(threshold_pct) == "REGRESSION"


@dataclass(frozen=True)
class Comparison:
    changes: list[Change]
    only_old: list[str]
    only_new: list[str]

    def regressions(self, threshold_pct: float) -> list[Change]:
        return [c for c in self.changes if c.is_regression(threshold_pct)]


def direction(figure: str, *, latency: bool = False) -> bool | None:
    """True if higher is better, False if lower is better, None if the figure is not compared."""
    if figure == TIME_FIGURE:
        return False
    if figure.endswith("_per_s") or "_over_" in figure:
        return True
    if latency and figure.endswith("_ms"):
        return False
    return None


def is_baseline(figure: str) -> bool:
    return figure.startswith(BASELINE_PREFIXES)


def is_ratio(figure: str) -> bool:
    return "_over_" in figure


def figures_of(bench: Mapping[str, Any], *, latency: bool = False) -> dict[str, float]:
    """The comparable numbers of one benchmark entry of a pytest-benchmark JSON file."""
    found: dict[str, float] = {}
    median = (bench.get("stats") or {}).get("median")
    if _is_number(median):
        found[TIME_FIGURE] = float(median)
    for name, value in (bench.get("extra_info") or {}).items():
        if _is_number(value) and direction(name, latency=latency) is not None:
            found[name] = float(value)
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def benchmarks_by_name(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {bench.get("fullname") or bench["name"]: bench for bench in document.get("benchmarks", [])}


def compare(
    old: Mapping[str, Any], new: Mapping[str, Any], *, latency: bool = False, ratios_decide: bool = False
) -> Comparison:
    """Every figure present in both runs, benchmark by benchmark, in the new run's order."""
    old_benches, new_benches = benchmarks_by_name(old), benchmarks_by_name(new)
    changes = []
    for name, bench in new_benches.items():
        if name not in old_benches:
            continue
        before = figures_of(old_benches[name], latency=latency)
        after = figures_of(bench, latency=latency)
        has_ratio = ratios_decide and any(is_ratio(f) and f in before for f in after)
        for figure, value in after.items():
            if figure in before:
                higher = direction(figure, latency=latency)
                assert higher is not None
                decides = not has_ratio or is_ratio(figure)
                changes.append(
                    Change(name, figure, before[figure], value, higher, is_baseline(figure), decides)
                )
    return Comparison(
        changes,
        only_old=[name for name in old_benches if name not in new_benches],
        only_new=[name for name in new_benches if name not in old_benches],
    )


def format_table(comparison: Comparison, threshold_pct: float) -> list[str]:
    width = max([len(_short(c.benchmark)) for c in comparison.changes] + [9])
    figure_width = max([len(c.figure) for c in comparison.changes] + [6])
    header = f"{'benchmark':<{width}}  {'figure':<{figure_width}}  {'old':>12}  {'new':>12}  {'change':>8}"
    lines = [
        f"{header}  status",
        "-" * (width + figure_width + 60),
    ]
    for c in comparison.changes:
        lines.append(
            f"{_short(c.benchmark):<{width}}  {c.figure:<{figure_width}}  {_number(c.old):>12}  "
            f"{_number(c.new):>12}  {c.change_pct:>+7.1f}%  {c.status(threshold_pct)}"
        )
    lines += [f"only in the old run: {name}" for name in comparison.only_old]
    lines += [f"only in the new run: {name}" for name in comparison.only_new]
    regressions = comparison.regressions(threshold_pct)
    lines.append(
        f"{len(regressions)} regression(s) beyond {threshold_pct:g} % "
        f"({len(comparison.changes)} figures compared)"
    )
    return lines


def _short(name: str) -> str:
    return name.removeprefix("benchmarks/")


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.4e}"


def load(path: str | Path) -> Mapping[str, Any]:
    with open(path) as source:
        document: Mapping[str, Any] = json.load(source)
    return document


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchkit.compare", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("old", help="pytest-benchmark JSON of the earlier run")
    parser.add_argument("new", help="pytest-benchmark JSON of the later run")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD_PCT,
        help="percent a figure may get worse before it counts as a regression (default 10)",
    )
    parser.add_argument("--latency", action="store_true", help="compare latencies (*_ms) too")
    parser.add_argument(
        "--ratios-decide",
        action="store_true",
        help="benchmarks with a framework/bare ratio regress only when a ratio does",
    )
    return parser.parse_args(argv)


def machine_note(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """A warning when the two runs were not made on the same kind of machine."""

    def machine(document: Mapping[str, Any]) -> tuple[object, object]:
        described = (document.get("machine_info") or {}).get("smartcustoms") or {}
        return described.get("cpu_model"), described.get("cpu_count")

    before, after = machine(old), machine(new)
    if before == after:
        return None
    return f"note: the runs were made on different machines ({before} vs {after}): compare with care"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    old, new = load(args.old), load(args.new)
    comparison = compare(old, new, latency=args.latency, ratios_decide=args.ratios_decide)
    print(f"old: {args.old}\nnew: {args.new}")
    note = machine_note(old, new)
    if note:
        print(note)
    for line in format_table(comparison, args.threshold):
        print(line)
    return 1 if comparison.regressions(args.threshold) else 0


if __name__ == "__main__":
    sys.exit(main())
