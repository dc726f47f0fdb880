"""Tiny ONNX detection models the tests build themselves (no download): their output is a known
function of the input, so a test knows what the plugin must report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mean_brightness_model(path: Path) -> Path:
    """[1, 1, H, W] -> detections [1, 1, 6]: box (10, 20, 30, 40), score = mean pixel, class 0."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Reshape", ["mean", "shape_111"], ["score"]),
        helper.make_node("Concat", ["box", "score", "class"], ["detections"], axis=2),
    ]
    constants = [
        numpy_helper.from_array(np.array([1, 1, 1], np.int64), "shape_111"),
        numpy_helper.from_array(np.array([[[10, 20, 30, 40]]], np.float32), "box"),
        numpy_helper.from_array(np.array([[[0]]], np.float32), "class"),
    ]
    graph = helper.make_graph(
        nodes,
        "mean_brightness",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, 1, 6])],
        constants,
    )
    return _save(graph, path)


def max_brightness_three_outputs(path: Path) -> Path:
    """Fixed [1, 3, 32, 32] input -> boxes [1,1,4] (4, 4, 20, 20), scores [1,1] = max pixel,
    labels [1,1] = 1."""
    nodes = [
        helper.make_node("ReduceMax", ["image"], ["peak"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Reshape", ["peak", "shape_11"], ["scores"]),
        helper.make_node("Identity", ["box"], ["boxes"]),
        helper.make_node("Identity", ["label"], ["labels"]),
    ]
    constants = [
        numpy_helper.from_array(np.array([1, 1], np.int64), "shape_11"),
        numpy_helper.from_array(np.array([[[4, 4, 20, 20]]], np.float32), "box"),
        numpy_helper.from_array(np.array([[1]], np.int64), "label"),
    ]
    graph = helper.make_graph(
        nodes,
        "max_brightness",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 1, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 1]),
        ],
        constants,
    )
    return _save(graph, path)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
