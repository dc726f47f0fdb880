"""The liquor_label plugin's settings (``[plugins.liquor_label.settings]``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

READ_LABELS = ("always", "when_needed", "never")


@dataclass(frozen=True)
class LiquorSettings:
    library_dir: str = ""  # the liquor-labels artefact; "" = <artefact root>/liquor-labels
    camera_roles: tuple[str, ...] = ("red_channel",)  # frames of other camera roles are not bottles
    min_confidence: float = 0.9  # below it a bottle goes to an officer with its candidates
    min_inliers: int = 6  # a best line with fewer consistent keypoints is no match at all
    min_dense: float = 0.2  # a match whose label correlates less with its view goes to an officer
    read_labels: str = "when_needed"  # OCR of ABV and volume: always, when_needed, never
    read_above_confidence: float = 0.98  # when_needed: a surer match of a one-bottle line is not read
    read_names: bool = True  # a bottle the keypoints leave to an officer: identify it by the names read
    names_check_below: float = 0.99  # read_names: a bottle cleared less surely, or a twin, is cross-checked
    ocr_threads: int = 1  # onnxruntime intra-op threads of the text recogniser

    def __post_init__(self) -> None:
        if not 0 < self.min_confidence < 1:
            raise ValueError("liquor_label: min_confidence must be between 0 and 1")
        if not -1 <= self.min_dense <= 1:
            raise ValueError("liquor_label: min_dense must be between -1 and 1")
        if self.read_labels not in READ_LABELS:
            raise ValueError(f"liquor_label: read_labels must be one of {', '.join(READ_LABELS)}")
        if not 0 <= self.names_check_below <= 1:
            raise ValueError("liquor_label: names_check_below must be from 0 to 1")
        if not isinstance(self.read_names, bool):
            raise ValueError("liquor_label: read_names must be true or false")
        if self.min_inliers < 4 or self.ocr_threads < 1:
            raise ValueError("liquor_label: min_inliers must be at least 4 and ocr_threads at least 1")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> LiquorSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"liquor_label: unknown setting(s) {', '.join(unknown)}")
        values = dict(settings)
        if "camera_roles" in values:
            roles = values["camera_roles"]
            values["camera_roles"] = (roles,) if isinstance(roles, str) else tuple(str(r) for r in roles)
        return cls(**values)
