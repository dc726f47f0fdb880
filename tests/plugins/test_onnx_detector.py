"""onnx_detector with models the tests build: output formats, channel and size fitting, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx_models import max_brightness_three_outputs, mean_brightness_model

from smartcustoms.core.config import ConfigError, PluginConfig
from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.manager import PluginInfo, new_plugin_manager, register
from smartcustoms.core.types import Decision, Modality
from smartcustoms.plugins import onnx as onnx_detector
from smartcustoms.plugins.onnx import OnnxDetector, OnnxDetectorPlugin
from smartcustoms.runtime.dispatch import routed_modalities


def _settings(**overrides: Any) -> dict[str, Any]:
    return {**onnx_detector.SPEC.default_settings, **overrides}


def test_a_single_tensor_model_alarms_on_bright_xray_and_clears_dark(tmp_path: Path) -> None:
    model = mean_brightness_model(tmp_path / "mean.onnx")
    detector = OnnxDetector(_settings(model_path=str(model), class_names=["firearm"], input_scale=1 / 65535))
    bright = np.full((2, 48, 64), 60_000, np.uint16)
    view = inline_view(array_frame(bright, modality=Modality.XRAY, source_id="x", sequence=1))
    assessment = detector.assess(view)
    assert assessment.decision is Decision.ALARM
    (detection,) = assessment.detections
    assert detection.label == "firearm" and detection.box == (10.0, 20.0, 30.0, 40.0)
    assert detection.score == pytest.approx(60_000 / 65535, rel=1e-5)
    assert "mean.onnx" in detection.explanation
    dark = inline_view(
        array_frame(np.full((2, 48, 64), 3000, np.uint16), modality=Modality.XRAY, source_id="x", sequence=2)
    )
    assert detector.assess(dark) == detector.assess(dark)
    assert detector.assess(dark).decision is Decision.CLEAR


def test_three_output_model_with_fixed_size_maps_boxes_back_to_frame_pixels(tmp_path: Path) -> None:
    model = max_brightness_three_outputs(tmp_path / "max.onnx")
    detector = OnnxDetector(
        _settings(
            model_path=str(model),
            output_format="boxes_scores_labels",
            class_names=["bottle", "label"],
            input_scale=1 / 255,
        )
    )
    image = np.zeros((64, 96), np.uint8)
    image[4, 3] = 255  # on the nearest-neighbour grid of the resize to 32x32 (rows step 2, columns 3)
    camera = inline_view(array_frame(image, modality=Modality.CAMERA, source_id="cam", sequence=1))
    (detection,) = detector.assess(camera).detections
    assert detection.label == "label"
    assert detection.box == (12.0, 8.0, 60.0, 40.0)  # x scaled by 96/32, y by 64/32


def test_alarm_classes_limit_what_raises_an_alarm(tmp_path: Path) -> None:
    model = mean_brightness_model(tmp_path / "mean.onnx")
    detector = OnnxDetector(
        _settings(
            model_path=str(model), class_names=["phone"], alarm_classes=["firearm"], score_threshold=0.0
        )
    )
    view = inline_view(
        array_frame(np.ones((1, 8, 8), np.float32), modality=Modality.XRAY, source_id="x", sequence=1)
    )
    assessment = detector.assess(view)
    assert assessment.decision is Decision.CLEAR and [d.label for d in assessment.detections] == ["phone"]


def test_configuration_errors_are_plain(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model_path"):
        OnnxDetector(_settings(model_path=str(tmp_path / "missing.onnx")))
    model = mean_brightness_model(tmp_path / "mean.onnx")
    with pytest.raises(ValueError, match="output_format"):
        OnnxDetector(_settings(model_path=str(model), output_format="yolo"))


def test_the_plugin_refuses_to_build_without_a_model() -> None:
    pm = new_plugin_manager()
    with pytest.raises(ValueError, match="model_path"):
        register(pm, "smartcustoms.plugins.onnx:OnnxDetectorPlugin", settings=_settings())
    assert pm.get_plugins() == set()


def test_the_plugin_object_runs_its_model(tmp_path: Path) -> None:
    model = mean_brightness_model(tmp_path / "mean.onnx")
    pm = new_plugin_manager()
    settings = _settings(model_path=str(model), class_names=["firearm"], input_scale=1 / 65535)
    info = register(pm, "smartcustoms.plugins.onnx:OnnxDetectorPlugin", settings=settings)
    assert info.factory is OnnxDetectorPlugin and info.style == "class"
    bright = np.full((2, 8, 8), 60_000, np.uint16)
    view = inline_view(array_frame(bright, modality=Modality.XRAY, source_id="x", sequence=1))
    (assessment,) = pm.hook.smartcustoms_process_batch(frames=[view])
    assert assessment.decision is Decision.ALARM


def test_configuration_narrows_the_modalities_routed_to_a_plugin() -> None:
    info = PluginInfo(onnx_detector.SPEC, "smartcustoms.plugins.onnx:OnnxDetectorPlugin", "builtin", ())
    assert routed_modalities(info, PluginConfig()) == onnx_detector.SPEC.consumes
    assert routed_modalities(info, PluginConfig(consumes=["xray"])) == {Modality.XRAY}
    with pytest.raises(ConfigError, match="cannot consume rfid"):
        routed_modalities(info, PluginConfig(consumes=["rfid"]))
    with pytest.raises(ConfigError, match="consumes"):
        routed_modalities(info, PluginConfig(consumes=["sonar"]))
