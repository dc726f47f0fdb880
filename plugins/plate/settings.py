"""The plate reader's settings (``[plugins.plate_reader.settings]``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class PlateSettings:
    # Frames whose ``camera_role`` metadata is one of these are read; other camera frames (a red-channel
    # counter's) are returned CLEAR without a detection, for the plugin that reads them.
    camera_roles: tuple[str, ...] = ("vehicle_lane",)
    min_confidence: float = 0.5  # a plate read less surely goes to an officer to confirm
    officer_when_unread: bool = True  # no plate, or a doubtful one: MANUAL_INSPECTION (else CLEAR)
    max_plates: int = 2  # a cross-boundary car carries two
    max_lines: int = 4  # text lines recognised per frame at most, the most plate-like first
    squeeze: float = 0.75  # width of a text line given to the recogniser, relative to its proportions
    ocr_threads: int = 1  # ONNX Runtime threads of the recogniser

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> PlateSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"plate_reader: unknown setting(s) {', '.join(unknown)}")
        values = dict(settings)
        if "camera_roles" in values:
            roles = values["camera_roles"]
            values["camera_roles"] = (roles,) if isinstance(roles, str) else tuple(str(r) for r in roles)
        parsed = cls(**values)
        if not 0 <= parsed.min_confidence <= 1:
            raise ValueError("plate_reader: min_confidence must be within [0, 1]")
        if parsed.max_plates < 1 or parsed.max_lines < 1 or parsed.ocr_threads < 1:
            raise ValueError("plate_reader: max_plates, max_lines and ocr_threads must be at least 1")
        if not 0.3 <= parsed.squeeze <= 1.5:
            raise ValueError("plate_reader: squeeze must be within [0.3, 1.5]")
        return parsed
