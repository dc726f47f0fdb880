"""Evaluation of liquor_label: ``smartcustoms eval liquor [--seed S --count N] [--renderer sim|alt]``.

``sim``: ``count`` frames of ``hardware.sim.liquor.LiquorSimulator(seed)`` at the red-channel camera's
720 x 960, sent as the camera sends them (JPEG at each frame's quality, ``to_frame``), recognised by the
plugin built through its class from the ``liquor-labels`` artefact and warmed up as a Ray actor would.

``alt``: the independent renderer ``hardware.sim.liquor_alt``, whose labels the library has never seen.
As a site would, the database is first given its bottles from photos: ``ALT_PHOTOS_PER_PRODUCT`` images
of each product from seed ``ALT_REFERENCE_SEED`` go through ``library add``'s path (``views.photo_views``)
into a temporary copy of the library (same facts, same confidence model); then ``count`` images of
``seed`` are recognised. Nothing is tuned on it.

Figures: ``top1`` (the entry the detection names, its best candidate, is the bottle shown; a shortlist of
several products alike names none) and ``top3`` (the bottle among the candidates) over all frames;
``officer_share`` (frames the plugin sends to an officer); ``wrong_unflagged`` (wrong and not sent: the
errors that reach a traveller's bill unseen); ``duty_exact`` over the recognised bottles (not sent to an
officer): the plugin's ``duty_hkd`` equals the duty of the bottle shown, to the cent; ``referrals``: why
the bottles sent went to an officer, per kind (``recogniser.REFERRALS``), and how many of them had the
bottle shown as the first candidate (the officer confirms) or among the candidates; times per frame
(decode included).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware.sim import _frames
from smartcustoms.hardware.sim import liquor as liquor_sim
from smartcustoms.plugins.liquor.library import (
    ARTEFACT_NAME,
    LabelLibrary,
    library_folder,
    load_library,
)
from smartcustoms.plugins.liquor.plugin import SPEC, LiquorLabelPlugin, bottle_duty_hkd
from smartcustoms.plugins.liquor.tools import (
    ALT_PHOTOS_PER_PRODUCT,
    ALT_REFERENCE_SEED,
    CALIBRATION_SEEDS,
    DEVELOPMENT_SEEDS,
    FRAME_SHAPE,
    PHOTO_CALIBRATION_SEEDS,
    PHOTO_REFERENCE_SEEDS,
)
from smartcustoms.plugins.liquor.tools.add import photo_library
from smartcustoms.plugins.liquor.tools.build import product_of

RENDERERS = ("sim", "alt")


@dataclass(frozen=True)
class Outcome:
    """One frame: the truth, what the plugin said, how long it took."""

    truth: str
    candidates: tuple[str, ...]
    needs_officer: bool
    duty_right: bool
    ms: float
    condition: str = ""  # occlusion ("", "hand", "sticker") where the renderer says
    by_names: bool = False  # recognised by the names read on its label
    referral: str = ""  # why it was sent to an officer (recogniser.REFERRALS), "" when it was not
    named: bool = True  # the detection names an entry (not a shortlist of several alike, nor nothing)

    @property
    def first_right(self) -> bool:
        """The bottle shown is the entry the detection names (its first candidate)."""
        return self.named and bool(self.candidates) and self.candidates[0] == self.truth


def check_seed(seed: int, count: int, renderer: str = "sim") -> None:
    """ValueError for a seed used to develop or calibrate the plugin, or a count below 1."""
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {', '.join(RENDERERS)}")
    if renderer == "sim":
        tuning = (
            (DEVELOPMENT_SEEDS, "develop"),
            (CALIBRATION_SEEDS, "calibrate"),
            (PHOTO_REFERENCE_SEEDS, "calibrate"),
            (PHOTO_CALIBRATION_SEEDS, "calibrate"),
        )
        for used, what in tuning:
            if seed in used:
                raise ValueError(
                    f"seed {seed} was used to {what} the liquor plugin: evaluate on another "
                    f"(not {used.start}-{used.stop - 1})"
                )
    elif seed == ALT_REFERENCE_SEED:
        raise ValueError(f"seed {seed} gives the alt renderer's reference photos: evaluate on another")
    if count < 1:
        raise ValueError("count must be at least 1")


def tool_plugin(
    settings: Mapping[str, Any] | None = None, artefact_root: str | Path = "", library_dir: str = ""
) -> LiquorLabelPlugin:
    """The plugin as the runtime builds it (defaults overlaid with ``settings``), for a tool."""
    context = PluginContext(SPEC.name, Role.TOOL, artefact_root=artefacts.resolve_root(str(artefact_root)))
    overrides = {**(settings or {}), **({"library_dir": library_dir} if library_dir else {})}
    return LiquorLabelPlugin({**SPEC.default_settings, **overrides}, context)


def evaluate(
    count: int,
    seed: int,
    *,
    renderer: str = "sim",
    artefact_root: str | Path = "",
    settings: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """liquor_label on ``count`` frames of ``seed`` of a renderer: the figures as a dict. ArtefactError
    (naming the build command) when the label database is not built."""
    check_seed(seed, count, renderer)
    base = library_folder(
        str((settings or {}).get("library_dir", "")), artefacts.resolve_root(str(artefact_root))
    )
    library = load_library(base)
    with tempfile.TemporaryDirectory(prefix="liquor-alt-") as scratch:
        library_dir = str(base)
        if renderer == "alt":
            (progress or (lambda _: None))(
                "the alt renderer's bottles into a copy of the library, from photos"
            )
            library_dir = str(alt_library(library, Path(scratch) / ARTEFACT_NAME))
        plugin = tool_plugin(settings, artefact_root, library_dir)
        plugin.smartcustoms_warm_up()
        frames = sim_frames(seed, count) if renderer == "sim" else alt_frames(seed, count)
        outcomes = [_run(plugin, view, truth, condition) for view, truth, condition in frames]
        used = plugin.artefacts[0].short
    shape = FRAME_SHAPE if renderer == "sim" else None
    report = {"system": "liquor", "renderer": renderer, "seed": seed, "count": count, "shape": shape}
    return {**report, **figures(outcomes), "library": used, "machine": machine()}


def _run(plugin: LiquorLabelPlugin, view: FrameView, truth: str, condition: str) -> Outcome:
    started = time.perf_counter()
    [assessment] = plugin.smartcustoms_process_batch([view])
    ms = (time.perf_counter() - started) * 1000
    detection = assessment.detections[0] if assessment.detections else None
    attributes = detection.attributes if detection is not None else {}
    candidates = tuple(c["catalogue_id"] for c in json.loads(attributes.get("candidates", "[]")))
    true_duty = str(bottle_duty_hkd(product_of(liquor_sim.product(truth))))
    return Outcome(
        truth,
        candidates,
        assessment.decision == Decision.MANUAL_INSPECTION,
        attributes.get("duty_hkd") == true_duty,
        ms,
        condition,
        attributes.get("identified_by") == "names",
        attributes.get("needs_officer_referral", ""),
        "catalogue_id" in attributes,
    )


def sim_frames(seed: int, count: int) -> Iterator[tuple[FrameView, str, str]]:
    simulator = liquor_sim.LiquorSimulator(seed, *FRAME_SHAPE)
    for index in range(count):
        shot = simulator.generate(index)
        frame = liquor_sim.to_frame(shot, source_id="red-channel-eval", sequence=index)
        yield inline_view(frame), shot.catalogue_id, shot.occlusion or "none"


def alt_frames(seed: int, count: int) -> Iterator[tuple[FrameView, str, str]]:
    from smartcustoms.hardware.sim import liquor_alt

    for index, (image, catalogue_id) in enumerate(liquor_alt.generate(seed, count)):
        yield camera_view(image, index), str(catalogue_id), "alt"


def camera_view(image: np.ndarray, sequence: int) -> FrameView:
    """A red-channel camera frame of an RGB image, as PNG (the renderer applied its own JPEG)."""
    frame = _frames.payload_frame(
        liquor_sim.encode(np.ascontiguousarray(image), "png"),
        modality=Modality.CAMERA,
        source_id="red-channel-eval",
        sequence=sequence,
        encoding="png",
        shape=image.shape,
        metadata={"camera_role": liquor_sim.CAMERA_ROLE, "traveller_id": f"EVAL-{sequence}"},
    )
    return inline_view(frame)


def alt_library(library: LabelLibrary, out: Path) -> Path:
    """A copy of ``library`` whose views are those of the alt renderer's reference photos only (the
    facts and the confidence model are the library's)."""
    from smartcustoms.hardware.sim import liquor_alt

    photos: dict[str, list[np.ndarray]] = {}
    total = ALT_PHOTOS_PER_PRODUCT * len(liquor_sim.CATALOGUE)
    for image, catalogue_id in liquor_alt.generate(ALT_REFERENCE_SEED, total):
        photos.setdefault(str(catalogue_id), []).append(np.ascontiguousarray(image))
    return photo_library(
        library,
        out,
        photos,
        version=f"{library.info.version}-alt-photos",
        source=f"hardware.sim.liquor_alt seed {ALT_REFERENCE_SEED}",
    )


def figures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The figures of a list of outcomes (see the module docstring)."""
    n = len(outcomes)
    top1 = sum(o.first_right for o in outcomes)
    top3 = sum(o.truth in o.candidates[:3] for o in outcomes)
    officer = sum(o.needs_officer for o in outcomes)
    recognised = [o for o in outcomes if not o.needs_officer]
    wrong_unflagged = sum(not o.first_right for o in recognised)
    ms = np.array([o.ms for o in outcomes])
    by_condition = {}
    for condition in sorted({o.condition for o in outcomes}):
        chosen = [o for o in outcomes if o.condition == condition]
        by_condition[condition] = {
            "frames": len(chosen),
            "top1": _share(sum(o.first_right for o in chosen), len(chosen)),
            "officer_share": _share(sum(o.needs_officer for o in chosen), len(chosen)),
        }
    return {
        "top1": _share(top1, n),
        "top3": _share(top3, n),
        "officer_share": _share(officer, n),
        "wrong_unflagged": _share(wrong_unflagged, n),
        "recognised": len(recognised),
        "by_names": _share(sum(o.by_names for o in recognised), n),
        "by_names_right": _share(sum(o.by_names and o.first_right for o in recognised), n),
        "duty_exact": _share(sum(o.duty_right for o in recognised), len(recognised)),
        "by_condition": by_condition,
        "referrals": referrals(outcomes),
        "ms_per_frame_mean": round(float(ms.mean()), 1),
        "ms_per_frame_p50": round(float(np.percentile(ms, 50)), 1),
        "ms_per_frame_p95": round(float(np.percentile(ms, 95)), 1),
    }


def referrals(outcomes: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    """Per kind of referral, most frequent first: the frames sent, those whose first candidate is the
    bottle shown, and those with it among their candidates."""
    counted: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        if not outcome.needs_officer:
            continue
        row = counted.setdefault(outcome.referral or "unknown", {"frames": 0, "first_right": 0, "listed": 0})
        row["frames"] += 1
        row["first_right"] += outcome.first_right
        row["listed"] += outcome.truth in outcome.candidates
    return dict(sorted(counted.items(), key=lambda item: (-item[1]["frames"], item[0])))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def machine() -> str:
    """What the times were measured on."""
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load:.1f}"


def format_report(report: Mapping[str, Any]) -> str:
    """The figures of ``evaluate`` as plain text."""
    shape = f" of {report['shape'][0]} x {report['shape'][1]}" if report.get("shape") else ""
    lines = [
        f"liquor evaluation: {report['count']} frames{shape}, renderer {report['renderer']}, "
        f"seed {report['seed']}, library {report['library']}",
        f"top-1 accuracy: {report['top1']:.1%}   top-3: {report['top3']:.1%}",
        f"sent to officers: {report['officer_share']:.1%}   "
        f"wrong and not sent: {report['wrong_unflagged']:.1%}",
        f"duty exactly right on the {report['recognised']} recognised bottles: {report['duty_exact']:.1%}",
        f"recognised by the names read on the label: {report['by_names']:.1%} of frames "
        f"({report['by_names_right']:.1%} right)",
    ]
    for condition, row in report["by_condition"].items():
        lines.append(
            f"  {condition:>8}: {row['frames']:4d} frames, top-1 {row['top1']:.1%}, "
            f"to officers {row['officer_share']:.1%}"
        )
    if report.get("referrals"):
        lines.append("why bottles were sent (frames; the bottle shown first / among the candidates):")
        lines += [
            f"  {kind:>18}: {row['frames']:4d}  ({row['first_right']} / {row['listed']})"
            for kind, row in report["referrals"].items()
        ]
    lines.append(
        f"time per frame: mean {report['ms_per_frame_mean']:.0f} ms, "
        f"p50 {report['ms_per_frame_p50']:.0f} ms, p95 {report['ms_per_frame_p95']:.0f} ms "
        f"({report['machine']})"
    )
    return "\n".join(lines)
