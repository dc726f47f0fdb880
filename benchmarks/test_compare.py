"""Unit tests of ``benchkit.compare`` (and a smoke test of ``benchkit.plot``): no service, no timing.

.venv/bin/pytest benchmarks/test_compare.py -p no:cacheprovider
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from benchkit import compare


def bench(fullname: str, median_s: float, **extra_info: Any) -> dict[str, Any]:
    return {
        "name": fullname.rpartition("::")[2],
        "fullname": fullname,
        "stats": {"median": median_s, "min": median_s, "rounds": 1},
        "extra_info": extra_info,
    }


def document(*benchmarks: dict[str, Any], cpu: str = "AMD EPYC") -> dict[str, Any]:
    return {
        "machine_info": {"smartcustoms": {"cpu_model": cpu, "cpu_count": 2}},
        "datetime": "2026-11-27T21:00:00",
        "benchmarks": list(benchmarks),
    }


GATEWAY = "benchmarks/test_bench_gateway.py::test_gateway_ingest[xray-4KiB]"
SINK = "benchmarks/test_bench_sink.py::test_verdict_sink"


def statuses(comparison: compare.Comparison, threshold: float = 10.0) -> dict[tuple[str, str], str]:
    return {(c.benchmark, c.figure): c.status(threshold) for c in comparison.changes}


def test_direction_of_figures() -> None:
    assert compare.direction("frames_per_s") is True
    assert compare.direction("mb_per_s") is True
    assert compare.direction("megabytes_per_s") is True
    assert compare.direction("records_per_s") is True
    assert compare.direction("bare_loop_per_s") is True
    assert compare.direction("framework_over_bare") is True
    assert compare.direction("framework_over_faust") is True
    assert compare.direction(compare.TIME_FIGURE) is False
    assert compare.direction("latency_p99_ms") is None  # only with --latency
    assert compare.direction("latency_p99_ms", latency=True) is False
    for ignored in ("frames", "payload_bytes", "load_avg_1m", "overhead_pct", "case"):
        assert compare.direction(ignored) is None


def test_throughput_drop_beyond_threshold_is_a_regression() -> None:
    old = document(bench(GATEWAY, 2.0, frames_per_s=1000.0, framework_over_bare=0.30))
    new = document(bench(GATEWAY, 2.1, frames_per_s=850.0, framework_over_bare=0.29))
    comparison = compare.compare(old, new)
    assert statuses(comparison) == {
        (GATEWAY, compare.TIME_FIGURE): "ok",  # +5 %
        (GATEWAY, "frames_per_s"): "REGRESSION",  # -15 %
        (GATEWAY, "framework_over_bare"): "ok",  # -3.3 %
    }
    assert [c.figure for c in comparison.regressions(10)] == ["frames_per_s"]
    assert comparison.regressions(20) == []  # the threshold decides


def test_longer_time_is_worse_and_higher_throughput_is_better() -> None:
    old = document(bench(SINK, 1.0, frames_per_s=10_000.0))
    new = document(bench(SINK, 1.5, frames_per_s=13_000.0))
    found = statuses(compare.compare(old, new))
    assert found[(SINK, compare.TIME_FIGURE)] == "REGRESSION"
    assert found[(SINK, "frames_per_s")] == "improved"


def test_baseline_figures_are_shown_but_never_fail() -> None:
    old = document(bench(SINK, 1.0, bare_frames_per_s=40_000.0, faust_count_per_s=5000.0))
    new = document(bench(SINK, 1.0, bare_frames_per_s=20_000.0, faust_count_per_s=2000.0))
    comparison = compare.compare(old, new)
    assert set(statuses(comparison).values()) == {"ok", "slower machine?"}
    assert comparison.regressions(10) == []


def test_with_ratios_deciding_a_slower_machine_is_not_a_regression() -> None:
    """Framework and bare both 30 % slower: the ratio held, so only the ratio's verdict counts."""
    old = document(bench(SINK, 1.0, frames_per_s=100.0, bare_frames_per_s=400.0, framework_over_bare=0.25))
    new = document(bench(SINK, 1.4, frames_per_s=70.0, bare_frames_per_s=280.0, framework_over_bare=0.25))
    strict = compare.compare(old, new)
    assert {c.figure for c in strict.regressions(10)} == {compare.TIME_FIGURE, "frames_per_s"}
    lenient = compare.compare(old, new, ratios_decide=True)
    assert lenient.regressions(10) == []
    assert statuses(lenient)[(SINK, "frames_per_s")] == "worse (ratio decides)"
    assert statuses(lenient)[(SINK, "bare_frames_per_s")] == "slower machine?"


def test_with_ratios_deciding_a_dropped_ratio_is_still_a_regression() -> None:
    old = document(
        bench(SINK, 1.0, frames_per_s=100.0, framework_over_bare=0.25),
        bench(GATEWAY, 1.0, frames_per_s=100.0),  # no ratio: its own figures decide
    )
    new = document(
        bench(SINK, 1.0, frames_per_s=100.0, framework_over_bare=0.20),
        bench(GATEWAY, 1.0, frames_per_s=80.0),
    )
    regressions = compare.compare(old, new, ratios_decide=True).regressions(10)
    assert {(c.benchmark, c.figure) for c in regressions} == {
        (SINK, "framework_over_bare"),
        (GATEWAY, "frames_per_s"),
    }


def test_latency_is_compared_only_when_asked() -> None:
    old = document(bench(SINK, 1.0, latency_p99_ms=10.0))
    new = document(bench(SINK, 1.0, latency_p99_ms=30.0))
    assert (SINK, "latency_p99_ms") not in statuses(compare.compare(old, new))
    assert statuses(compare.compare(old, new, latency=True))[(SINK, "latency_p99_ms")] == "REGRESSION"


def test_unmatched_benchmarks_and_odd_values() -> None:
    other = "benchmarks/test_bench_stream.py::test_stream_hop"
    old = document(bench(GATEWAY, 1.0, frames_per_s=None, mb_per_s=0.0), bench(other, 1.0))
    new = document(bench(GATEWAY, 1.0, frames_per_s=5.0, mb_per_s=0.0, records_per_s=True), bench(SINK, 1.0))
    comparison = compare.compare(old, new)
    assert comparison.only_old == [other] and comparison.only_new == [SINK]
    assert {c.figure for c in comparison.changes} == {compare.TIME_FIGURE, "mb_per_s"}  # None, bools skipped
    assert statuses(comparison)[(GATEWAY, "mb_per_s")] == "ok"  # 0 -> 0


def test_main_prints_a_table_and_exits_1_on_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    old_path.write_text(json.dumps(document(bench(GATEWAY, 1.0, frames_per_s=100.0))))
    new_path.write_text(json.dumps(document(bench(GATEWAY, 1.0, frames_per_s=80.0), cpu="Intel")))
    assert compare.main([str(old_path), str(new_path)]) == 1
    printed = capsys.readouterr().out
    assert "REGRESSION" in printed and "-20.0%" in printed and "different machines" in printed
    assert compare.main([str(old_path), str(new_path), "--threshold", "25"]) == 0
    assert compare.main([str(old_path), str(new_path), "--ratios-decide"]) == 1  # no ratio: figures decide
    assert compare.main([str(old_path), str(old_path)]) == 0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="benchkit.plot needs matplotlib (the bench extra)")
    from benchkit import plot

    results = document(
        bench(GATEWAY, 2.0, checkpoint="gateway", case="xray-4KiB", frames_per_s=1600.0,
              bare_frames_per_s=5300.0, framework_over_bare=0.3, latency_p50_ms=37.0, latency_p99_ms=56.0),
        bench("benchmarks/test_bench_pipeline.py::test_rfid_records", 6.0, case="rfid-1000r",
              frames_per_s=158.0, bare_loop_per_s=1000.0, framework_over_bare=0.16,
              framework_over_faust=0.06, latency_p50_ms=44.0, latency_p99_ms=120.0),
        bench("benchmarks/test_bench_ct_vehicle.py::test_vehicle_compare_1024x3072", 0.15, median_ms=150.0),
    )  # fmt: skip
    assert [row.checkpoint for row in plot.rows_of(results)] == ["gateway", "kernel", "end_to_end"]
    out = tmp_path / "run.png"
    assert plot.plot(results, out) == 3
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
