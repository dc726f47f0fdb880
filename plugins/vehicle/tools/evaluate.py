"""Evaluation of vehicle_compare on a held-out simulated set: ``smartcustoms eval vehicle``.

``evaluate(count, seed)``: ``count`` scans of ``VehicleSimulator(seed)`` (1024 x 3072, every model, half
of them with a concealment of a kind that fits the vehicle and its declaration); with ``variations``
each scan as a real portal gives it (``vehicle.Realism.portal()``). The plugin is built
through its class (``tool_plugin``) from the ``vehicle-references`` artefact and warmed up as a Ray actor
would; each scan goes through its batch hook as a frame of the simulator's ``to_frame`` (which carries
``declared_pallets``, the quantity a manifest declares).

``evaluate_data(directory)``: the same on labelled scans from outside (``labelled.LabelledScans``: scans
and COCO-style boxes), each scan a frame with the metadata its annotations give; ``run`` is the loop both
share, ``figures`` and ``manual_figures`` the figures.

Figures, per class and overall:

- ``pd``: true concealments matched by a detection of their class with IoU >= 0.3, over true ones;
- ``ap50`` and ``map50``: VOC average precision at IoU 0.5 (``core.evaluation``);
- ``false_alarm_rate``: share of clean vehicles that alarm at all; ``false_detections_per_frame``:
  detections matching no concealment, per scan (all scans);
- ``manual_clean_rate`` / ``manual_concealing_rate``: share of clean / concealing scans sent to manual
  inspection instead (no alarm, not cleared), ``manual_reasons`` how many for each reason;
- ``ms_per_frame_mean`` / ``ms_per_frame_p95``: wall time of the batch hook per scan, this process;
- ``other_rig_clean`` / ``other_rig_clear_rate`` (simulated scans): clean containers on another tractor
  or trailer than the whole vehicle reference's (``variations`` with ``trailers``), and the share cleared.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from smartcustoms.core.artefacts import resolve_root
from smartcustoms.core.evaluation import (
    Box,
    FramesScored,
    Labelled,
    class_table,
    found_truths,
    screening_figures,
)
from smartcustoms.core.frames import FrameView, array_frame, inline_view
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.types import Decision, Detection, Modality
from smartcustoms.hardware.sim import vehicle
from smartcustoms.plugins.vehicle.plugin import SPEC, VehicleComparePlugin
from smartcustoms.plugins.vehicle.settings import LABELS
from smartcustoms.plugins.vehicle.tools import DEVELOPMENT_SEEDS
from smartcustoms.plugins.vehicle.tools.labelled import LabelledScans, LabelsError

PD_IOU = 0.3
AP_IOU = 0.5
CONCEALMENT_RATE = 0.5
HIDDEN = "hidden_compartment"


def check_seed(seed: int, count: int) -> None:
    """ValueError for a seed the thresholds were set on, or a count below 1."""
    if seed in DEVELOPMENT_SEEDS:
        used = DEVELOPMENT_SEEDS
        raise ValueError(
            f"seed {seed} was used to develop the vehicle thresholds: evaluate on another "
            f"(not {used.start}-{used.stop - 1})"
        )
    if count < 1:
        raise ValueError("count must be at least 1")


def tool_plugin(
    settings: Mapping[str, Any] | None = None, artefact_root: str | Path = ""
) -> VehicleComparePlugin:
    """The plugin as the runtime builds it (its defaults overlaid with ``settings``), for a tool, reading
    the artefact under ``artefact_root`` (default: the default root): ArtefactError naming the build
    command when the artefact is missing."""
    context = PluginContext(SPEC.name, Role.TOOL, artefact_root=resolve_root(str(artefact_root)))
    return VehicleComparePlugin({**SPEC.default_settings, **(settings or {})}, context)


def evaluate(
    count: int,
    seed: int,
    *,
    artefact_root: str | Path = "",
    height: int = 1024,
    width: int = 3072,
    settings: Mapping[str, Any] | None = None,
    variations: Sequence[str] = (),
    models: Sequence[str] = (),
) -> dict[str, Any]:
    """vehicle_compare on ``count`` simulated portal scans of ``seed``: the figures as a dict.
    ``variations``: each scan with what a real portal changes (``vehicle.Realism.portal(variations)``:
    ``levels`` gain and offset, ``pixels`` longer along the vehicle, ``speed`` varying along it,
    ``eight_bit`` export, ``trailers``, ``photons``). ``models``: only these of the simulator's (default
    all). ArtefactError (naming the build command) when the references are not built."""
    check_seed(seed, count)
    plugin = tool_plugin(settings, artefact_root)
    plugin.smartcustoms_warm_up()
    realism = vehicle.Realism.portal(tuple(variations)) if variations else None
    simulator = vehicle.VehicleSimulator(
        seed,
        height,
        width,
        concealment_rate=CONCEALMENT_RATE,
        realism=realism,
        models=tuple(models) or vehicle.MODEL_NAMES,
    )

    other_rig: list[bool] = []  # per scan: a clean container on another tractor or trailer
    where: list[list[str]] = []  # per scan: each concealment's location

    def scans() -> Iterator[tuple[FrameView, list[Labelled]]]:
        for index in range(count):
            scan = simulator.generate(index)
            rig = scan.rig
            other_rig.append(not scan.concealments and rig is not None and rig != vehicle.DEFAULT_RIG)
            where.append([c.location for c in scan.concealments])
            view = inline_view(vehicle.to_frame(scan, source_id="portal-eval", sequence=index))
            yield view, [Labelled(c.kind, _box(c.box)) for c in scan.concealments]

    decisions: list[Decision] = []
    frames, manual = run(plugin, scans(), decisions)
    on_other_rigs = [d for d, other in zip(decisions, other_rig, strict=True) if other]
    report = {
        "system": "vehicle",
        "seed": seed,
        "count": count,
        "shape": [2, height, width],
        "variations": {"kinds": list(variations), **dataclasses.asdict(realism)} if realism else None,
        "models": list(models) or "all",
    }
    return {
        **report,
        **figures(frames),
        "hidden_by_location": hidden_by_location(frames, where),
        **manual_figures(manual, frames),
        "other_rig_clean": len(on_other_rigs),
        "other_rig_clear_rate": (
            sum(d is Decision.CLEAR for d in on_other_rigs) / len(on_other_rigs) if on_other_rigs else None
        ),
        "references": plugin.artefacts[0].short,
    }


def evaluate_data(
    directory: str | Path,
    *,
    artefact_root: str | Path = "",
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """vehicle_compare on the labelled scans of ``directory`` (``labelled.LabelledScans``: images and
    COCO-style boxes from outside): the same figures as ``evaluate``. LabelsError or ScanFileError for a
    folder or scan that is not as documented or a container type or model the references lack,
    ArtefactError when the references are not built."""
    data = LabelledScans(directory)
    plugin = tool_plugin(settings, artefact_root)
    missing = sorted(data.models() - set(plugin.comparer.references.models()))
    if missing:
        raise LabelsError(
            f"no reference of {', '.join(missing)} in {plugin.artefacts[0].short} "
            f"({plugin.artefacts[0].path}): enrol one with `smartcustoms library add vehicle`"
        )
    plugin.smartcustoms_warm_up()
    where: list[list[str]] = []  # per scan: each annotation's location

    def scans() -> Iterator[tuple[FrameView, list[Labelled]]]:
        for index, scan in enumerate(data.scans()):
            where.append(list(scan.locations))
            frame = array_frame(
                scan.array,
                modality=Modality.XRAY,
                source_id="portal-data",
                sequence=index,
                metadata=scan.metadata,
            )
            yield inline_view(frame), list(scan.truths)

    frames, manual = run(plugin, scans())
    return {
        "system": "vehicle",
        "data": str(directory),
        "count": len(data),
        **figures(frames),
        "hidden_by_location": hidden_by_location(frames, where),
        **manual_figures(manual, frames),
        "references": plugin.artefacts[0].short,
    }


def evaluate_generator(
    count: int,
    seed: int,
    *,
    height: int | None = None,
    width: int | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """vehicle_compare on ``count`` scans of the independent generator (``hardware.sim.vehicle_alt``,
    written without reading the project's simulator and never fitted or tuned on): its labelled folder
    and its own empty references, written to a temporary folder, the references enrolled as a site
    enrols its own (``labelled.enrol_references``), then scored as ``evaluate_data`` scores labelled
    scans from outside. ValueError for a seed the generator refuses."""
    from smartcustoms.hardware.sim import vehicle_alt
    from smartcustoms.plugins.vehicle.tools.labelled import enrol_references

    with tempfile.TemporaryDirectory(prefix="vehicle-alt-") as folder:
        data = vehicle_alt.write_folder(Path(folder) / "scans", seed, count, height=height, width=width)
        library = Path(folder) / "references"
        enrol_references(data, library)
        report = evaluate_data(data, settings={**(settings or {}), "reference_dir": str(library)})
    return {**report, "data": "", "generator": vehicle_alt.NAME, "seed": seed}


def run(
    plugin: VehicleComparePlugin,
    scans: Iterable[tuple[FrameView, list[Labelled]]],
    decisions: list[Decision] | None = None,
) -> tuple[list[tuple[list[Labelled], list[Labelled], float]], list[tuple[bool, str]]]:
    """Each scan through the plugin's batch hook: per scan (truths, boxed detections, ms), and for each
    scan sent to manual inspection whether it conceals something and why; each decision appended to
    ``decisions`` when given."""
    frames, manual = [], []
    for view, truths in scans:
        started = time.perf_counter()
        [assessment] = plugin.smartcustoms_process_batch([view])
        ms = (time.perf_counter() - started) * 1000
        found = [Labelled(d.label, _box(d.box), d.score) for d in assessment.detections if d.box]
        frames.append((truths, found, ms))
        if decisions is not None:
            decisions.append(assessment.decision)
        if assessment.decision is Decision.MANUAL_INSPECTION:
            manual.append((bool(truths), _reasons(assessment.detections)))
    return frames, manual


def _reasons(detections: Sequence[Detection]) -> str:
    return ",".join(sorted({d.attributes.get("reason", d.label) for d in detections})) or "unstated"


def manual_figures(manual: Sequence[tuple[bool, str]], frames: FramesScored) -> dict[str, Any]:
    """Scans sent to manual inspection (not alarms, not cleared): the share of clean and of concealing
    scans, and how many for each reason."""
    concealing = sum(1 for truths, *_ in frames if truths)
    clean = len(frames) - concealing
    reasons: dict[str, int] = {}
    for _, reason in manual:
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "manual_clean_rate": sum(1 for c, _ in manual if not c) / clean if clean else 0.0,
        "manual_concealing_rate": sum(1 for c, _ in manual if c) / concealing if concealing else 0.0,
        "manual_reasons": reasons,
    }


def hidden_by_location(frames: FramesScored, where: Sequence[Sequence[str]]) -> dict[str, dict[str, int]]:
    """Hidden compartments per location (the simulator's, or the annotations' ``location``; those without
    one left out): how many, and how many a detection of their class matched at IoU >= ``PD_IOU`` (the
    objects the class table counts as detected)."""
    table: dict[str, dict[str, int]] = {}
    for (truths, found, _), locations in zip(frames, where, strict=True):
        for truth, location, hit in zip(truths, locations, found_truths(found, truths, PD_IOU), strict=True):
            if truth.label == HIDDEN and location:
                row = table.setdefault(location, {"objects": 0, "detected": 0})
                row["objects"] += 1
                row["detected"] += hit
    return dict(sorted(table.items()))


def _box(box: Sequence[float]) -> Box:
    x0, y0, x1, y1 = box
    return (float(x0), float(y0), float(x1), float(y1))


def figures(frames: FramesScored) -> dict[str, Any]:
    """The figures of per-frame (truths, detections, ms): every detection is an alarm."""
    return screening_figures(frames, LABELS, pd_iou=PD_IOU, ap_iou=AP_IOU)


def format_report(report: dict[str, Any]) -> str:
    """The figures of ``evaluate`` or ``evaluate_data`` as a plain-text table."""
    if report.get("generator"):
        lines = [
            f"vehicle evaluation on the independent generator ({report['generator']}: never fitted or "
            f"tuned on): {report['count']} frames of seed {report['seed']}, its own references enrolled "
            f"as a site's"
        ]
    elif report.get("data"):
        lines = [
            f"vehicle evaluation on labelled scans: {report['count']} frames of {report['data']}, "
            f"references {report['references']}"
        ]
    else:
        lines = [
            f"vehicle evaluation: {report['count']} frames of shape {report['shape']}, "
            f"seed {report['seed']}, models {_format_models(report.get('models', 'all'))}, "
            f"references {report['references']}",
            f"portal variations: {_format_variations(report.get('variations'))}",
        ]
    lines += class_table(report["classes"], pd_iou=PD_IOU, ap_iou=AP_IOU)
    if report.get("hidden_by_location"):
        places = report["hidden_by_location"].items()
        lines.append(
            "hidden compartments by location: "
            + ", ".join(f"{place} {row['detected']} of {row['objects']}" for place, row in places)
        )
    lines += [
        f"mAP@0.5: {report['map50']:.3f}",
        f"false alarms per vehicle: {report['false_alarm_rate']:.1%} of {report['clean_frames']} clean "
        f"vehicles alarm; {report['false_detections_per_frame']:.3f} false detections per vehicle",
        f"manual inspection: {report['manual_clean_rate']:.1%} of clean vehicles, "
        f"{report['manual_concealing_rate']:.1%} of concealing ones "
        f"({_format_reasons(report['manual_reasons'])})",
        f"time per frame: mean {report['ms_per_frame_mean']:.0f} ms, p95 {report['ms_per_frame_p95']:.0f} ms",
    ]
    if report.get("other_rig_clean"):
        lines.append(
            f"clean containers on another tractor or trailer than the whole reference's: "
            f"{report['other_rig_clear_rate']:.1%} of {report['other_rig_clean']} cleared"
        )
    return "\n".join(lines)


def _format_models(models: object) -> str:
    return ", ".join(models) if isinstance(models, list) else "all"


def _format_reasons(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items())) or "none"


def _format_variations(variations: Mapping[str, Any] | None) -> str:
    if not variations:
        return "none (calibrated levels, square pixels, steady speed)"
    gain, offset, along = variations["gain"], variations["offset_grey_levels"], variations["along_ratio"]
    parts = {
        "levels": f"gain {gain[0]:g}-{gain[1]:g} and offset {offset[0]:+g}..{offset[1]:+g} grey levels",
        "pixels": f"pixels {along[0]:g}-{along[1]:g} times longer along the vehicle",
        "speed": f"speed varying within {variations['speed_variation']:.0%} along it",
        "eight_bit": "8-bit export",
        "trailers": "containers on any tractor and trailer",
        "photons": f"photons per pixel {variations['photons_scale'][0]:g}-{variations['photons_scale'][1]:g} "
        "times the simulator's",
        "coarse": "a real portal's pixels: rows {:g}-{:g} and columns {:g}-{:g} times the simulator's "
        "4.88 mm".format(*variations["across_factor"], *along),
        "framing": f"the scan starting up to {variations['frame_shift_cm']:g} cm earlier or later",
        "road": "{:g}-{:g} cm of road in the lowest rows".format(*variations["road_cm"]),
        "detector": "detector rows' gains off by {:.1%}-{:.1%} (up to {} boards of rows weak), pulses' "
        "doses by {:.2%}-{:.2%}".format(
            *variations["row_gain_sd"], variations["weak_boards"], *variations["pulse_sd"]
        ),
        "suspension": f"the body up to {variations['body_lift_cm']:g} cm higher or lower on its wheels",
        "scatter": "{:.1%}-{:.1%} of the signal scattered onto the detectors".format(
            *variations["scatter_share"]
        ),
        "fuel": "the fuel tanks {:.0%}-{:.0%} full".format(*(variations["fuel_level"] or (0, 0))),
        "stops": "in half the scans the vehicle slowing by {:.0%}-{:.0%} in the portal".format(
            *(variations["stop_depth"] or (0, 0))
        ),
    }
    return "; ".join(parts[kind] for kind in variations["kinds"])
