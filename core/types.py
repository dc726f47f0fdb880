"""Vendor-free domain types that plugins see: modalities, decisions, detections, assessments."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smartcustoms.v1 import frame_pb2, results_pb2


class Modality(enum.Enum):
    """What kind of device produced a frame; the value is the metric label and topic suffix."""

    XRAY = "xray"
    CT = "ct"
    CAMERA = "camera"
    RFID = "rfid"
    RECORD = "record"

    @classmethod
    def from_proto(cls, value: int) -> Modality:
        """Map a ``smartcustoms.v1.Modality`` number; ValueError for unspecified or unknown values."""
        try:
            return _MODALITY_FROM_PROTO[value]
        except KeyError:
            raise ValueError(f"unknown modality {value}") from None

    def to_proto(self) -> int:
        return _MODALITY_TO_PROTO[self]


_MODALITY_TO_PROTO: dict[Modality, int] = {
    Modality.XRAY: frame_pb2.MODALITY_XRAY,
    Modality.CT: frame_pb2.MODALITY_CT,
    Modality.CAMERA: frame_pb2.MODALITY_CAMERA,
    Modality.RFID: frame_pb2.MODALITY_RFID,
    Modality.RECORD: frame_pb2.MODALITY_RECORD,
}
_MODALITY_FROM_PROTO = {number: modality for modality, number in _MODALITY_TO_PROTO.items()}
ALL_MODALITIES = frozenset(Modality)


class Decision(enum.Enum):
    CLEAR = "clear"
    ALARM = "alarm"
    MANUAL_INSPECTION = "manual_inspection"

    def to_proto(self) -> int:
        return _DECISION_TO_PROTO[self]

    @classmethod
    def from_proto(cls, value: int) -> Decision:
        return _DECISION_FROM_PROTO[value]


_DECISION_TO_PROTO: dict[Decision, int] = {
    Decision.CLEAR: results_pb2.DECISION_CLEAR,
    Decision.ALARM: results_pb2.DECISION_ALARM,
    Decision.MANUAL_INSPECTION: results_pb2.DECISION_MANUAL_INSPECTION,
}
_DECISION_FROM_PROTO = {number: decision for decision, number in _DECISION_TO_PROTO.items()}


Box2D = tuple[float, float, float, float]
"""x_min, y_min, x_max, y_max in pixels."""
Box3D = tuple[float, float, float, float, float, float]
"""x_min, y_min, z_min, x_max, y_max, z_max in voxels."""


@dataclass(frozen=True)
class Detection:
    """One thing a plugin found in a frame."""

    label: str
    score: float
    box: Box2D | None = None
    volume: Box3D | None = None
    explanation: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_proto(self, plugin: str, plugin_version: str) -> results_pb2.Detection:
        message = results_pb2.Detection(
            label=self.label,
            score=self.score,
            explanation=self.explanation,
            attributes=dict(self.attributes),
            plugin=plugin,
            plugin_version=plugin_version,
        )
        if self.box is not None:
            message.box.CopyFrom(
                results_pb2.Box2D(x_min=self.box[0], y_min=self.box[1], x_max=self.box[2], y_max=self.box[3])
            )
        elif self.volume is not None:
            x0, y0, z0, x1, y1, z1 = self.volume
            message.volume.CopyFrom(
                results_pb2.Box3D(x_min=x0, y_min=y0, z_min=z0, x_max=x1, y_max=y1, z_max=z1)
            )
        return message


@dataclass(frozen=True)
class Assessment:
    """A plugin's conclusion about one frame."""

    decision: Decision
    detections: tuple[Detection, ...] = ()
    risk_score: float = 0.0

    @classmethod
    def clear(cls) -> Assessment:
        return cls(Decision.CLEAR)

    @classmethod
    def alarm(cls, *detections: Detection, risk_score: float = 1.0) -> Assessment:
        return cls(Decision.ALARM, tuple(detections), risk_score)


PLACEMENTS = ("ray", "worker")
"""Where a plugin runs: its Ray actor pool, or the stream worker's process."""


@dataclass(frozen=True)
class PluginSpec:
    """What a plugin is: returned by its ``smartcustoms_plugin_spec`` hook."""

    name: str
    version: str
    consumes: frozenset[Modality] = frozenset()
    produces: tuple[str, ...] = ("detections",)
    description: str = ""
    default_settings: Mapping[str, Any] = field(default_factory=dict)
    enabled_by_default: bool = True
    requires_metadata: frozenset[str] = (
        frozenset()
    )  # routed only frames with one of these keys set (non-empty)
    excludes_metadata: frozenset[str] = frozenset()  # never routed frames carrying any of these keys
    # Record frames only: routed only batches whose ``record_kind`` metadata is one of these (empty: all).
    record_kinds: frozenset[str] = frozenset()
    artefacts: tuple[str, ...] = ()  # reference data it loads, by artefact name (smartcustoms.core.artefacts)
    # Keyed state under another plugin's name: a retrained model run in shadow mode beside the live one
    # reads (and, with idempotent writes, shares) the live plugin's history. Empty: its own.
    state_of: str = ""
    # Where it runs unless its configuration says otherwise (``[plugins.NAME] placement``): "ray" (an
    # actor pool) or "worker" (in the stream worker's process, for cheap plugins; docs/plugins.md).
    placement: str = "ray"

    @property
    def state_name(self) -> str:
        """The name the plugin's keyed state lives under."""
        return self.state_of or self.name

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"plugin name must be a simple identifier, got {self.name!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(
                f"plugin {self.name}: placement must be 'ray' or 'worker', not {self.placement!r}"
            )


RECORD_KIND_KEY = "record_kind"
"""Metadata key of a record frame (a RecordBatch) naming the kind of its records ("cargo_declaration",
"vehicle_crossing"): ``PluginSpec.record_kinds`` routes on it."""

VENDOR_ATR_KEY = "vendor_atr"
"""Frame metadata key of an X-ray or CT frame that came with the scanner's own Threat Detection Report: the
report's decision and threat objects as JSON (``hardware.dicos.vendor_atr``), which the ``vendor_atr``
plugin makes a result."""

VEHICLE_SCAN_KEYS = frozenset({"vehicle_model", "container_type"})
"""Frame metadata keys that mark an X-ray frame as a vehicle or container portal scan: baggage
detectors exclude such frames, the vehicle comparison requires one of them."""
