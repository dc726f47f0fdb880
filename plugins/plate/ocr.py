"""Text recognition with rapidocr-onnxruntime's recogniser: the PP-OCRv4 model its wheel ships.

Only the recognition model is used, through ONNX Runtime directly, so the plugin chooses the threads
(one by default: an actor of the pool gets one core's share) and keeps the model's per-step character
probabilities, which ``formats`` decodes against the plate formats. A text line goes in as a BGR crop
``INPUT_HEIGHT`` pixels high (``plate.detect.rectify``); the model steps once per 8 columns.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

INPUT_HEIGHT = 48
MIN_WIDTH = 64
MODEL_FILE = "ch_PP-OCRv4_rec_infer.onnx"


class OcrUnavailable(RuntimeError):
    """rapidocr-onnxruntime (or its model) is not installed."""


def model_path() -> Path:
    """The recognition model inside the rapidocr-onnxruntime package (found, not imported)."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise OcrUnavailable("plate_reader needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime")
    path = Path(spec.origin).parent / "models" / MODEL_FILE
    if not path.is_file():
        raise OcrUnavailable(f"rapidocr-onnxruntime has no {MODEL_FILE} at {path.parent}")
    return path


def engine_version() -> str:
    """``rapidocr-onnxruntime <version>``, as results report it."""
    try:
        return f"rapidocr-onnxruntime {metadata.version('rapidocr-onnxruntime')}"
    except metadata.PackageNotFoundError:
        return "rapidocr-onnxruntime (unknown version)"


class Recognizer:
    """The recognition model, one ONNX Runtime session: crops in, per-step probabilities out."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        listed = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.characters: tuple[str, ...] = ("", *listed, " ")  # index 0 is CTC's blank
        self.index = {c: i for i, c in enumerate(self.characters) if c}

    def probabilities(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """For each BGR uint8 crop ``INPUT_HEIGHT`` high, its (steps, characters) probabilities."""
        if not crops:
            return []
        widths = [max(MIN_WIDTH, crop.shape[1]) for crop in crops]
        batch = np.zeros((len(crops), 3, INPUT_HEIGHT, max(widths)), dtype=np.float32)
        for n, crop in enumerate(crops):
            if crop.shape[0] != INPUT_HEIGHT or crop.ndim != 3:
                raise ValueError(f"a crop must be ({INPUT_HEIGHT}, w, 3), got {crop.shape}")
            batch[n, :, :, : crop.shape[1]] = crop.transpose(2, 0, 1) / np.float32(127.5) - 1
        output = np.asarray(self._session.run(None, {self._input: batch})[0])
        return [output[n, : max(1, width // 8)] for n, width in enumerate(widths)]
