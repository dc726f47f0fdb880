"""Each plugin's kernel: the framework path (``PluginHost.process``, as in a Ray actor) against the
plugin's own function called in a plain loop, on the same frames, in alternating rounds.

``overhead_pct`` = framework time / bare time - 1 (median rounds): what the framework adds around a
plugin (frame parsing, payload views over the shared-memory claim check, hook call, result checks and
serialization). The issue's goal is under 10 %. Needs no service. Nothing here asserts a time: only
that both paths reach the same decision for every frame.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import pytest
from benchkit.checkpoints import ms, rates, ratio, record, run_alternating
from benchkit.kernels import CASES, PLUGIN_PATHS, FrameworkPath, importable

IMPORT_PROBLEMS = {name: importable(PLUGIN_PATHS[name]) for name in CASES}
CASE_PARAMS = [  # a plugin that does not import (yet) is reported as skipped, with the reason
    pytest.param(name, marks=pytest.mark.skipif(problem is not None, reason=problem or ""))
    for name, problem in IMPORT_PROBLEMS.items()
]


@pytest.mark.parametrize("plugin", CASE_PARAMS)
def test_plugin_kernel(
    benchmark: Any, plugin: str, shm_root: Path, checkpoint_summary: list[dict[str, Any]]
) -> None:
    cv2.setNumThreads(1)  # the same single thread for both paths (numba kernels are single-threaded)
    case = CASES[plugin]()
    framework = FrameworkPath(case, shm_root, f"kernel{uuid.uuid4().hex[:8]}")
    expected = case.bare()  # warm both paths up: numba caches, library banks, page cache
    assert framework() == expected, "the framework and the bare call disagree"

    decisions, rounds = run_alternating(benchmark, framework, case.bare, case.rounds)
    assert decisions == expected and all(result == expected for result in rounds.bare_results)

    frames = len(case.frames)
    records = round(frames * case.records_per_frame)
    framework_s, bare_s = rounds.framework_median_s, rounds.bare_median_s
    figures: dict[str, Any] = {
        "batch_frames": frames,
        "payload_bytes": case.payload_bytes,
        **rates("", framework_s, frames, case.payload_bytes, records if records != frames else None),
        **rates("bare_", bare_s, frames, case.payload_bytes, records if records != frames else None),
    }
    figures |= {
        "framework_over_bare": ratio(figures["frames_per_s"], figures["bare_frames_per_s"]),
        "overhead_pct": round((framework_s / bare_s - 1) * 100, 2),
        "latency_p50_ms": ms(rounds.framework_round_s, 50),
        "latency_p99_ms": ms(rounds.framework_round_s, 99),
        "bare_latency_p50_ms": ms(rounds.bare_round_s, 50),
        "bare_latency_p99_ms": ms(rounds.bare_round_s, 99),
        "rounds": case.rounds,
        "decisions": dict(Counter(d.value for d in expected)),
    }
    if case.note:
        figures["note"] = case.note
    record(benchmark, checkpoint_summary, "kernel", plugin, figures)
