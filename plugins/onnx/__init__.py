"""onnx_detector: bring your own model. Runs any ONNX object-detection model with onnxruntime on the
frames of the modalities it is configured for, so a vendor's or a lab's trained detector drops in by
configuration:

    [plugins.onnx_detector]
    enabled = true
    consumes = ["xray"]
    settings = { model_path = "/models/threats.onnx", class_names = ["firearm", "knife"],
                 output_format = "boxes_scores_labels", input_scale = 1.5259e-05 }

Input: the frame as float32 [1, C, H, W] (X-ray [energies, H, W]; camera [H, W, C] arrays or PNG/JPEG
decoded with OpenCV; CT as its maximum-intensity projection over depth), times ``input_scale`` plus
``input_offset``, channels repeated or cut to what the model takes, resized (nearest neighbour) to a
fixed model size. Output, by ``output_format``: ``xyxy_score_class`` (one tensor [.., K, 6]) or
``boxes_scores_labels`` (three tensors [.., K, 4], [.., K], [.., K]). Boxes come back in frame pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec

SPEC = PluginSpec(
    name="onnx_detector",
    version="1.1.0",
    consumes=frozenset({Modality.XRAY, Modality.CT, Modality.CAMERA}),
    description="runs a configured ONNX object-detection model (onnxruntime) on frames",
    default_settings={
        "model_path": "",
        "output_format": "xyxy_score_class",
        "class_names": [],
        "score_threshold": 0.5,
        "alarm_classes": [],
        "input_scale": 1.0,
        "input_offset": 0.0,
        "intra_op_threads": 1,
    },
    enabled_by_default=False,
)
OUTPUT_FORMATS = ("xyxy_score_class", "boxes_scores_labels")


class OnnxDetector:
    """A loaded model and how to feed it."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        import onnxruntime

        self.settings = dict(settings)
        path = Path(str(self.settings["model_path"]))
        if not path.is_file():
            raise FileNotFoundError(f"onnx_detector: model_path {str(path)!r} is not a file")
        if self.settings["output_format"] not in OUTPUT_FORMATS:
            raise ValueError(f"onnx_detector: output_format must be one of {OUTPUT_FORMATS}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(self.settings["intra_op_threads"])
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.model_name = path.name
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        shape = list(model_input.shape)
        if len(shape) != 4:
            raise ValueError(f"onnx_detector: expected an NCHW input, the model takes {shape}")
        self.channels, self.height, self.width = (d if isinstance(d, int) else None for d in shape[1:])

    def assess(self, frame: FrameView) -> Assessment:
        image = to_chw(frame)
        tensor, scale_y, scale_x = self._fit(image)
        outputs = self.session.run(None, {self.input_name: tensor})
        detections = [d for d in self._detections(outputs, scale_x, scale_y) if d is not None]
        alarm_classes = set(self.settings["alarm_classes"])
        alarming = [d for d in detections if not alarm_classes or d.label in alarm_classes]
        return (
            Assessment.alarm(*detections)
            if alarming
            else Assessment(Assessment.clear().decision, tuple(detections))
        )

    def _fit(self, image: np.ndarray) -> tuple[np.ndarray, float, float]:
        channels, height, width = image.shape
        values = image.astype(np.float32) * float(self.settings["input_scale"]) + float(
            self.settings["input_offset"]
        )
        if self.channels is not None and self.channels != channels:
            values = (
                np.resize(values, (self.channels, height, width))
                if self.channels > channels
                else values[: self.channels]
            )
        target_h, target_w = self.height or height, self.width or width
        if (target_h, target_w) != (height, width):
            rows = (np.arange(target_h) * height // target_h).astype(np.intp)
            cols = (np.arange(target_w) * width // target_w).astype(np.intp)
            values = values[:, rows][:, :, cols]
        return values[np.newaxis], height / target_h, width / target_w

    def _detections(
        self, outputs: Sequence[np.ndarray], scale_x: float, scale_y: float
    ) -> list[Detection | None]:
        if self.settings["output_format"] == "xyxy_score_class":
            rows = np.asarray(outputs[0]).reshape(-1, 6)
            boxes, scores, labels = rows[:, :4], rows[:, 4], rows[:, 5]
        else:
            boxes = np.asarray(outputs[0]).reshape(-1, 4)
            scores = np.asarray(outputs[1]).reshape(-1)
            labels = np.asarray(outputs[2]).reshape(-1)
        return [
            self._detection(box, float(score), int(label), scale_x, scale_y)
            for box, score, label in zip(boxes, scores, labels, strict=True)
        ]

    def _detection(
        self, box: np.ndarray, score: float, label: int, scale_x: float, scale_y: float
    ) -> Detection | None:
        if score < float(self.settings["score_threshold"]):
            return None
        names = list(self.settings["class_names"])
        name = names[label] if 0 <= label < len(names) else f"class_{label}"
        x0, y0, x1, y1 = (float(v) for v in box)
        return Detection(
            name,
            min(max(score, 0.0), 1.0),
            box=(x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y),
            explanation=f"{self.model_name}: class {label} ({name}) at {score:.2f}",
            attributes={"model": self.model_name},
        )


def to_chw(frame: FrameView) -> np.ndarray:
    """The frame as a [channels, height, width] array."""
    if frame.frame.encoding.lower() in ("png", "jpeg", "jpg"):
        import cv2  # optional: only camera frames that arrive encoded need it

        decoded = cv2.imdecode(np.frombuffer(frame.payload, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise ValueError(f"frame {frame.frame_id}: cannot decode its {frame.frame.encoding} payload")
        array = np.asarray(decoded)
    else:
        array = frame.array()
    if frame.modality is Modality.CT:
        return np.asarray(array.max(axis=0))[np.newaxis]  # maximum-intensity projection
    if frame.modality is Modality.CAMERA:
        return array[np.newaxis] if array.ndim == 2 else np.moveaxis(array, 2, 0)
    return array[np.newaxis] if array.ndim == 2 else array


class OnnxDetectorPlugin(Plugin):
    """The hook class: one loaded model per Ray actor of the pool (a model is never loaded elsewhere)."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any]) -> None:
        if not settings.get("model_path"):
            raise ValueError("onnx_detector has no model: set plugins.onnx_detector.settings.model_path")
        self.detector = OnnxDetector(settings)

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.detector.assess(frame) for frame in frames]
