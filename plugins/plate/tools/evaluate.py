"""Evaluation of plate_reader on a held-out simulated set: ``smartcustoms eval plates``.

``evaluate(count, seed)``: frames ``0 .. count-1`` of ``PlateSimulator(seed)`` (640 x 480; day half of
the time, dusk, night and infrared night the rest; one or two plates a vehicle), each encoded as the
camera sends it (JPEG at the frame's quality) and assessed by the plugin built through its class, as a
Ray actor builds it. Figures, per light condition and overall:

- ``exact``: plates read exactly (a ``licence_plate`` detection with the true normalised plate), over
  plates shown; ``exact_confident``: the same, counting only reads at or above ``min_confidence``;
- ``char_accuracy``: 1 - edit distance / length between each true plate and the closest read on its
  frame (0 when nothing was read), averaged over plates;
- ``wrong_confident``: reads at or above ``min_confidence`` naming no plate of the frame, per frame (the
  reads that would join a camera to the wrong crossing); ``officer_share``: frames sent to an officer;
- ``ms_per_frame_median`` / ``_p95``: wall time of the batch hook per frame (JPEG decoding included),
  this process, one ONNX Runtime thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartcustoms.core.frames import inline_view
from smartcustoms.core.types import Decision
from smartcustoms.hardware.sim import plates
from smartcustoms.plugins.plate.plugin import LABEL, SPEC, PlateReaderPlugin
from smartcustoms.plugins.plate.tools import DEVELOPMENT_SEEDS


def check_seed(seed: int, count: int) -> None:
    """ValueError for a seed the reader was developed on, or a count below 1."""
    if seed in DEVELOPMENT_SEEDS:
        used = DEVELOPMENT_SEEDS
        raise ValueError(
            f"seed {seed} was used to develop the plate reader: evaluate on another "
            f"(not {used.start}-{used.stop - 1})"
        )
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if count < 1:
        raise ValueError("count must be at least 1")


def tool_plugin(settings: Mapping[str, Any] | None = None) -> PlateReaderPlugin:
    """The plugin as the runtime builds it (its defaults overlaid with ``settings``), warmed up."""
    plugin = PlateReaderPlugin({**SPEC.default_settings, **(settings or {})})
    plugin.smartcustoms_warm_up()
    return plugin


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions of characters."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass
class _Tally:
    frames: int = 0
    plates: int = 0
    exact: int = 0
    exact_confident: int = 0
    char_score: float = 0.0
    wrong_confident: int = 0
    officer: int = 0
    durations_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        per_plate, per_frame = max(self.plates, 1), max(self.frames, 1)
        durations = self.durations_ms or [0.0]
        return {
            "frames": self.frames,
            "plates": self.plates,
            "exact": self.exact / per_plate,
            "exact_confident": self.exact_confident / per_plate,
            "char_accuracy": self.char_score / per_plate,
            "wrong_confident_per_frame": self.wrong_confident / per_frame,
            "officer_share": self.officer / per_frame,
            "ms_per_frame_median": float(np.median(durations)),
            "ms_per_frame_p95": float(np.percentile(durations, 95)),
        }


def evaluate(count: int, seed: int, *, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read ``count`` simulated frames of ``seed``; the figures per light condition and overall."""
    plugin = tool_plugin(settings)
    simulator = plates.PlateSimulator(seed)
    tallies = {light: _Tally() for light in (*plates.LIGHTS, "all")}
    for index in range(count):
        shot = simulator.generate(index)
        frame = inline_view(plates.to_frame(shot, source_id="eval-plates", sequence=index))
        started = time.perf_counter()
        (assessment,) = plugin.smartcustoms_process_batch([frame])
        elapsed_ms = (time.perf_counter() - started) * 1000
        reads = [(d.attributes["plate"], d.score) for d in assessment.detections if d.label == LABEL]
        truths = [p.text for p in shot.plates]
        for tally in (tallies[shot.light], tallies["all"]):
            _count(tally, truths, reads, plugin.settings.min_confidence)
            tally.officer += assessment.decision == Decision.MANUAL_INSPECTION
            tally.durations_ms.append(elapsed_ms)
    return {
        "seed": seed,
        "count": count,
        "cjk_rendered": simulator.cjk,
        "ocr_engine": plugin.engine,
        "min_confidence": plugin.settings.min_confidence,
        "by_light": {light: tally.figures() for light, tally in tallies.items() if tally.frames},
    }


def _count(
    tally: _Tally, truths: Sequence[str], reads: Sequence[tuple[str, float]], threshold: float
) -> None:
    tally.frames += 1
    tally.plates += len(truths)
    read_plates = {plate for plate, _ in reads}
    confident = {plate for plate, score in reads if score >= threshold}
    for truth in truths:
        tally.exact += truth in read_plates
        tally.exact_confident += truth in confident
        if reads:
            distance = min(edit_distance(truth, plate) for plate in read_plates)
            tally.char_score += max(0.0, 1 - distance / len(truth))
    tally.wrong_confident += len(confident - set(truths))


def format_report(report: dict[str, Any]) -> str:
    """The figures of ``evaluate`` as a plain-text table."""
    cjk = (
        "Chinese characters printed"
        if report["cjk_rendered"]
        else "no CJK font: Latin part of GD plates only"
    )
    lines = [
        f"plate evaluation: {report['count']} frames of seed {report['seed']} (640 x 480, JPEG; {cjk}); "
        f"{report['ocr_engine']}; confident = at least {report['min_confidence']:.2f}",
        f"{'light':<9} {'frames':>6} {'plates':>6} {'exact':>7} {'exact>=t':>8} {'chars':>7} "
        f"{'wrong>=t':>8} {'officer':>7} {'ms p50':>6} {'ms p95':>6}",
    ]
    for light, f in report["by_light"].items():
        lines.append(
            f"{light:<9} {f['frames']:>6} {f['plates']:>6} {f['exact']:>7.1%} {f['exact_confident']:>8.1%} "
            f"{f['char_accuracy']:>7.1%} {f['wrong_confident_per_frame']:>8.3f} {f['officer_share']:>7.1%} "
            f"{f['ms_per_frame_median']:>6.0f} {f['ms_per_frame_p95']:>6.0f}"
        )
    lines.append(
        "exact: plates read exactly; exact>=t: read exactly and surely; chars: 1 - edit distance / length; "
        "wrong>=t: sure reads of no plate in the frame, per frame; officer: frames sent to an officer"
    )
    return "\n".join(lines)


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
