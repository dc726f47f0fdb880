"""vendor_atr: the scanner's own automatic threat recognition, as a result beside the project's.

CT and X-ray machines run their own automatic threat recognition (ATR) and write what it decided as a
DICOS Threat Detection Report (TDR, type MACHINE). ``smartcustoms ingest-dicos IMAGE... REPORT`` sends
the report with the image it references: the report's decision and threat objects ride in that frame's
``vendor_atr`` metadata (``core.types.VENDOR_ATR_KEY``, compact JSON), and this plugin
makes them a result of its own. The machine's decision then enters the verdict as any plugin's does,
beside ``xray_detector``'s or ``ct_detector``'s, and its boxes are drawn apart from theirs on the review
page. Only frames carrying the key reach it (``requires_metadata``); it runs in the stream worker's
process (``placement = "worker"``: reading a few hundred bytes of JSON is no reason for a Ray round trip).

- ALARM: an alarm, one detection per threat object the machine flagged (THREAT, HIGH_THREAT or UNKNOWN;
  a NO_THREAT object is left out), labelled by its DICOS category (PI is ``prohibited_item``), its box
  (X-ray) or volume (CT) from the object's region in voxels, its score the machine's probability (1 when
  it gave none), its description and flag in the explanation.
- CLEAR: clear.
- Anything else (UNKNOWN, an abort: the machine did not decide) or a report that cannot be read: manual
  inspection, with a detection saying why, so an officer looks at the bag.

To watch a scanner's ATR without letting it decide, run the plugin in shadow mode (``[plugins.vendor_atr]
mode = "shadow"``, ``compare_with = ["xray_detector"]``): its results are kept and scored beside the
live plugins', never changing a verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import VENDOR_ATR_KEY, Assessment, Decision, Detection, Modality, PluginSpec

__all__ = ["LABELS", "SPEC", "VendorAtrPlugin", "assess"]

LABELS: Mapping[str, str] = {  # DICOS Threat Category -> detection label (hardware.dicos maps them back)
    "PI": "prohibited_item",
    "EXPLOSIVE": "explosive",
    "CONTRABAND": "contraband",
    "LAPTOP": "laptop",
    "PHARMACEUTICAL": "pharmaceutical",
    "ANOMALY": "anomaly",
}
FLAGGED = frozenset({"THREAT", "HIGH_THREAT", "UNKNOWN"})
UNDECIDED = "vendor_atr_undecided"
UNREADABLE = "vendor_report_unreadable"
UNNAMED = "vendor_atr_alarm"  # an alarm whose report flags no threat object

SPEC = PluginSpec(
    name="vendor_atr",
    version="1.0.0",
    consumes=frozenset({Modality.XRAY, Modality.CT}),
    description="the scanner's own automatic threat recognition, from the DICOS TDR sent with its image",
    requires_metadata=frozenset({VENDOR_ATR_KEY}),
    placement="worker",
)


class VendorAtrPlugin(Plugin):
    """Nothing to build: each frame carries its report."""

    spec = SPEC

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [
            assess(frame.metadata.get(VENDOR_ATR_KEY, ""), volumetric=frame.modality is Modality.CT)
            for frame in frames
        ]


def assess(document: str, *, volumetric: bool = False) -> Assessment:
    """The assessment a machine report (``vendor_atr`` metadata) gives a frame; ``volumetric`` for a CT,
    whose regions are volumes rather than boxes."""
    try:
        report = json.loads(document)
        decision = str(report.get("decision", "")).strip().upper()
        abort = str(report.get("abort", "")).strip().upper()
        given = report.get("abort_reasons") or []
        reasons = ", ".join(str(r) for r in ([given] if isinstance(given, str) else given)) or "none given"
        algorithm = str(report.get("algorithm", "")).strip() or "unnamed algorithm"
        threats = [_detection(t, algorithm, volumetric) for t in report.get("threats") or []]
    except (
        ValueError,
        TypeError,
        AttributeError,
        OverflowError,
    ) as error:  # not JSON, fields of the wrong kind
        why = f"the scanner's report could not be read: {' '.join(str(error).split())[:160]}"
        return Assessment(Decision.MANUAL_INSPECTION, (Detection(UNREADABLE, 1.0, explanation=why),))
    if abort == "ABORT" or decision not in ("ALARM", "CLEAR"):
        what = f"{decision or 'no decision'}, abort {abort or '-'} ({reasons})"
        why = f"the scanner's ATR ({algorithm}) did not decide: {what}"
        return Assessment(Decision.MANUAL_INSPECTION, (Detection(UNDECIDED, 1.0, explanation=why),))
    if decision == "CLEAR":
        return Assessment.clear()
    flagged = [d for d in threats if d is not None]
    if not flagged:
        why = f"the scanner's ATR ({algorithm}) alarmed without flagging a threat object"
        flagged = [Detection(UNNAMED, 1.0, explanation=why)]
    return Assessment.alarm(*flagged)


def _detection(threat: Mapping[str, Any], algorithm: str, volumetric: bool) -> Detection | None:
    flag = str(threat.get("flag", "")).strip().upper()
    if flag not in FLAGGED:
        return None
    category = str(threat.get("category", "")).strip().upper()
    description = str(threat.get("description", "")).strip()
    probability = threat.get("probability")
    score = 1.0 if probability is None else float(probability)
    score = (
        min(max(score, 0.0), 1.0) if math.isfinite(score) else 1.0
    )  # no usable probability: the flag stands
    box, volume = _region(threat.get("base"), threat.get("extents"), volumetric)
    return Detection(
        LABELS.get(category, "other"),
        score,
        box=box,
        volume=volume,
        explanation=f"the scanner's ATR ({algorithm}): {description or category or 'an object'}, {flag}",
        attributes={
            "category": category,
            "assessment": flag,
            "pto_id": str(threat.get("id", "")),
            "algorithm": algorithm,
        },
    )


def _region(
    base: Any, extents: Any, volumetric: bool
) -> tuple[tuple[float, float, float, float] | None, tuple[float, float, float, float, float, float] | None]:
    """A threat object's box (x_min, y_min, x_max, y_max) or volume from its voxel base and extents
    (x = column, y = row, z = slice); none when the report gives no region."""
    if not base or not extents:
        return None, None
    x, y, z = (float(v) for v in [*base, 0.0, 0.0][:3])
    dx, dy, dz = (float(v) for v in [*extents, 1.0, 1.0][:3])
    if not all(math.isfinite(v) for v in (x, y, z, dx, dy, dz)):
        return None, None
    (x0, x1), (y0, y1), (z0, z1) = sorted((x, x + dx)), sorted((y, y + dy)), sorted((z, z + dz))
    z1 = max(z1, z0 + 1.0)  # at least one slice deep
    if volumetric:
        return None, (x0, y0, z0, x1, y1, z1)
    return (x0, y0, x1, y1), None
