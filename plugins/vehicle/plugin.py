"""vehicle_compare: the hook class of the vehicle X-ray comparison.

It reads the ``vehicle-references`` artefact once per hosting process (setting ``reference_dir``, else
``<artefact root>/vehicle-references``; built by ``smartcustoms library build vehicle``) and compares
each portal scan with the references of the model its metadata names (``compare``).

Frames that are not vehicle scans: with ``require_vehicle_metadata`` (default) a frame without a model
in its metadata raises ``ValueError`` (the frame goes to manual inspection, the error names the fix:
route only portal sources to this plugin); with it false such a frame is returned CLEAR with no
detection, for deployments where another plugin looks at baggage X-ray frames on the same topic.
A model without any reference raises ``LookupError``: a vehicle nobody compared is never cleared.

Decisions: MANUAL_INSPECTION when the scan's outline does not line up with its aligned reference's
(a box-less ``comparison_doubtful`` detection, ``reason`` ``alignment``: a wrong pixel size, a speed
change, a wrong shift), whatever the comparison found, which it would otherwise alarm on; else ALARM
when the comparison finds a concealment (its notes ride along); MANUAL_INSPECTION when it finds
nothing but differences outside the vehicle's outline (box-less ``outside_vehicle`` notes, ``reason``
``outside_outline``); else CLEAR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core.frames import FrameView, array_frame, inline_view
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.lazy import lazy
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.types import VEHICLE_SCAN_KEYS, Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.plugins.vehicle.alignment import PixelSize, Warp, material_box
from smartcustoms.plugins.vehicle.compare import Comparison, Declaration, VehicleComparer
from smartcustoms.plugins.vehicle.parts import PartModels
from smartcustoms.plugins.vehicle.references import (
    ARTEFACT_NAME,
    Reference,
    load_references,
    references_folder,
)
from smartcustoms.plugins.vehicle.settings import VehicleSettings

if TYPE_CHECKING:
    import cv2

    from smartcustoms.plugins.vehicle import _kernels as kernels
else:
    cv2 = lazy("cv2")
    kernels = lazy("smartcustoms.plugins.vehicle._kernels")

MODEL_KEYS = ("vehicle_model", "container_type")  # VEHICLE_SCAN_KEYS, in the order they are read
DOUBT_LABEL = "comparison_doubtful"  # box-less: why a scan went to an officer rather than alarming
WARM_UP_REDUCTION = 8  # the warm-up scan is a reference this many times smaller, each way

SPEC = PluginSpec(
    name="vehicle_compare",
    version="1.3.0",
    consumes=frozenset({Modality.XRAY}),
    description="vehicle X-ray scans against reference scans of their model: hidden compartments, "
    "undeclared goods, extra load",
    default_settings={f.name: f.default for f in fields(VehicleSettings)},
    requires_metadata=VEHICLE_SCAN_KEYS,  # portal scans name their vehicle model or container type
    artefacts=(ARTEFACT_NAME,),
)


class VehicleComparePlugin(Plugin):
    """The hook class: one comparer, with the references loaded, per hosting process."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        parsed = VehicleSettings.from_mapping(settings)
        references = load_references(references_folder(parsed.reference_dir, context.artefact_root))
        self.comparer = VehicleComparer(parsed, references)
        self.artefacts = (references.info,)

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Compile the kernels: compare a small synthetic scan, made from a reference, with it."""
        references = self.comparer.references
        whole = [r for model in references.models() for r in references.whole(model)]
        if whole:  # a library of parts alone compiles the kernels on its first scan
            self.assess(warm_up_frame(whole[0]))
        warm_up_parts()

    def assess(self, frame: FrameView) -> Assessment:
        """The assessment of one X-ray frame."""
        model = vehicle_model(frame.metadata)
        if model is None:
            if self.comparer.settings.require_vehicle_metadata:
                raise ValueError(
                    f"vehicle_compare: frame {frame.frame_id} from {frame.source_id} has no "
                    f"{' or '.join(MODEL_KEYS)} metadata; route only vehicle portal sources to this plugin "
                    "or set require_vehicle_metadata = false"
                )
            return Assessment.clear()
        declaration = Declaration.from_metadata(frame.metadata)
        pixel = pixel_size(frame.metadata, self.comparer.settings)
        detections, comparison = self.comparer.compare(
            frame.array(),
            model,
            declaration,
            pixel,
            stated_levels(frame.metadata),
            PartModels.from_metadata(frame.metadata),
        )
        notes = (*comparison.notes, *comparison.explained)
        if comparison.doubt:  # a comparison that cannot be trusted neither alarms nor clears
            return Assessment(Decision.MANUAL_INSPECTION, (doubt(comparison, detections), *notes))
        if detections:
            return Assessment.alarm(*detections, *notes, risk_score=max(d.score for d in detections))
        if comparison.notes:  # differences outside the vehicle's outline: an officer looks
            return Assessment(Decision.MANUAL_INSPECTION, notes)
        return Assessment(Decision.CLEAR, comparison.explained)  # fuel levels: noted, cleared


def doubt(comparison: Comparison, withheld: Sequence[Detection]) -> Detection:
    """The box-less detection of a comparison that cannot be trusted, naming why (``reason``), how
    badly the outlines line up and what it would have reported."""
    reference = comparison.fitted.reference
    dx, dy = comparison.shift
    return Detection(
        DOUBT_LABEL,
        0.0,
        explanation=f"the scan does not line up with the empty {reference.model} reference "
        f"({reference.name}, shifted by {dx:+.1f},{dy:+.1f} px): {comparison.outline_mismatch:.0%} of "
        "the outlines' edges lie apart (a wrong pixel size, a speed change along the vehicle, a wrong "
        "shift, or something carried outside the body); an officer compares it",
        attributes={
            "reason": comparison.doubt,
            "outline_mismatch": f"{comparison.outline_mismatch:.3f}",
            "reference": reference.name,
            "shift_px": f"{dx:.2f},{dy:.2f}",
            "withheld": ",".join(d.label for d in withheld),
        },
    )


def pixel_size(metadata: Mapping[str, str], settings: VehicleSettings) -> PixelSize | None:
    """The scan's pixel size along and across the vehicle, from the first that gives it: metadata
    ``pixel_size_along_mm`` / ``pixel_size_across_mm`` (either alone completed by ``pixel_size_mm``),
    ``pixel_size_mm`` (square), DICOS ``pixel_spacing_mm`` ("rows,columns": across, along), the settings
    of the same names; None when nothing gives it (the references' sizes are scaled by image height)."""
    found = {key: _number(metadata.get(key, "")) for key in ("pixel_size_along_mm", "pixel_size_across_mm")}
    square = _number(metadata.get("pixel_size_mm", ""))
    along = found["pixel_size_along_mm"] or square
    across = found["pixel_size_across_mm"] or square
    if along and across:
        return PixelSize(along, across)
    spacing = [_number(v) for v in metadata.get("pixel_spacing_mm", "").split(",") if v.strip()]
    if len(spacing) == 2 and spacing[0] and spacing[1]:
        return PixelSize(spacing[1], spacing[0])
    if len(spacing) == 1 and spacing[0]:
        return PixelSize.square(spacing[0])
    if settings.pixel_size_along_mm and settings.pixel_size_across_mm:
        return PixelSize(settings.pixel_size_along_mm, settings.pixel_size_across_mm)
    return PixelSize.square(settings.pixel_size_mm) if settings.pixel_size_mm else None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def stated_levels(metadata: Mapping[str, str]) -> tuple[float | None, float | None]:
    """The open-beam and dark levels (counts) a scanner states in ``open_beam_level`` / ``dark_level``;
    None for each it does not (the comparison measures it on the scan)."""
    found = (metadata.get(key, "").strip() for key in ("open_beam_level", "dark_level"))
    open_beam, dark = (float(value) if value else None for value in found)
    return open_beam, dark


def warm_up_parts() -> None:
    """Compile the kernels that place a container vehicle's parts (``parts.place``) and move each
    within its material (``Warp.move``), which a scan compared with a whole vehicle's reference never
    calls, and the one that follows a vehicle that slowed in the portal (``alignment.follow_path``),
    which only a scan that does not line up calls."""
    profile = np.zeros((1, 16))
    kernels._lag_scores(profile, profile, 0, 16, -2, 2)
    kernels._column_path(profile, profile, np.zeros(16, dtype=np.int64), 3, 0.05, 0.5)
    part = np.zeros((8, 16), dtype=np.float32)
    part[2:6, 4:12] = 1.0
    Warp.shift(0.5, 0.5, 16).move(part, material=material_box(part))


def vehicle_model(metadata: Mapping[str, str]) -> str | None:
    return next((metadata[k].strip() for k in MODEL_KEYS if metadata.get(k, "").strip()), None)


def warm_up_frame(reference: Reference) -> FrameView:
    """A dual-energy portal frame of ``reference``'s model: the reference reduced ``WARM_UP_REDUCTION``
    times, with a dense block in it, darker and lowered by some grey levels, as a frame stores it (so
    the scan's arrays are read-only, as they are for every real frame) and with the pixel size that
    makes it a resampling of the reference."""
    height, width = (max(64, n // WARM_UP_REDUCTION) for n in reference.high_energy.shape)
    high: np.ndarray = cv2.resize(reference.high_energy, (width, height), interpolation=cv2.INTER_AREA)
    high[height // 2 : height // 2 + 24, width // 3 : width // 3 + 48] //= 4  # something dense
    # exported 5 % darker and 3 grey levels lower, so the levels are measured and applied (their kernel)
    high = np.clip(high.astype(np.float32) * 0.95 - 3 * 257, 0, 65535).astype(np.uint16)
    metadata = {"vehicle_model": reference.model, "declared_goods": "empty"}
    if reference.pixel_size_mm:
        scale = reference.high_energy.shape[0] / height
        metadata["pixel_size_mm"] = f"{reference.pixel_size_mm * scale:.4f}"
    scan = np.stack([high, high])
    frame = array_frame(scan, modality=Modality.XRAY, source_id="warm-up", sequence=1, metadata=metadata)
    return inline_view(frame)
