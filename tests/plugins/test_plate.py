"""plate_reader: plate formats and their decoding, routing by camera role, reads of simulated lane
camera frames (held-out seeds), the detection contract, and ``smartcustoms eval plates``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

import cv2
import numpy as np
import pytest

from smartcustoms.core.frames import inline_view
from smartcustoms.core.manager import discover
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware.sim import plates
from smartcustoms.plugins.plate import LABEL, PlateReaderPlugin, PlateSettings, normalise, valid
from smartcustoms.plugins.plate.detect import stroke_transitions
from smartcustoms.plugins.plate.formats import PlateDecoder
from smartcustoms.plugins.plate.plugin import SPEC
from smartcustoms.plugins.plate.tools import DEVELOPMENT_SEEDS, cli, evaluate
from smartcustoms.runtime.dispatch import accepts
from smartcustoms.v1 import frame_pb2

SEED = 1300  # held out: not a development seed
YUE, GANG = "\u7ca4", "\u6e2f"
CHARACTERS = ("", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", YUE, GANG, "\u00b7", "#", " ")


@pytest.fixture(scope="module")
def plugin() -> PlateReaderPlugin:
    return evaluate.tool_plugin()


def steps(*symbols: Mapping[str, float] | str, certainty: float = 0.97) -> np.ndarray:
    """Per-step probabilities: each symbol (a character, or {character: probability}) on one step,
    blanks between."""
    rows = []
    for symbol in symbols:
        weights = {symbol: certainty} if isinstance(symbol, str) else dict(symbol)
        row = np.full(len(CHARACTERS), (1 - sum(weights.values())) / len(CHARACTERS))
        for char, p in weights.items():
            row[CHARACTERS.index(char)] += p
        blank = np.zeros(len(CHARACTERS))
        blank[0] = 1.0
        rows += [row, blank]
    return np.array(rows)


def test_formats_and_normalisation() -> None:
    assert valid("AB1234") == "HK" and valid("XY1") == "HK"
    assert valid(f"{YUE}ZAB12{GANG}") == "GD" and valid(f"{YUE}ZQ0Q9{GANG}") == "GD"
    for bad in ("AB0123", "IO123", "AB12345", "A1234", "ABC123", f"{YUE}ZAB1{GANG}", f"{YUE}ZAO12{GANG}"):
        assert valid(bad) is None, bad
    assert normalise("ab 1234") == "AB1234" and normalise("粤z·ab12港") == f"{YUE}ZAB12{GANG}"


def test_position_rules_correct_look_alikes_from_the_model_probabilities() -> None:
    decoder = PlateDecoder(CHARACTERS)
    best = decoder.candidates(steps("A", "B", "1", "O", "I", "4"))[0]
    assert (best.plate, best.region, best.corrections) == ("AB1014", "HK", 2)
    assert best.confidence == pytest.approx(0.9 * 0.97, abs=0.01)  # the shapes are the same
    letters = decoder.candidates(steps({"0": 0.7, "D": 0.25}, "K", "5", "5"))[0]
    assert letters.plate == "DK55"  # O is no Hong Kong letter: the model's next guess, D
    exact = decoder.candidates(steps("X", "Y", "9", "8", "7", "6"))[0]
    assert (exact.plate, exact.corrections) == ("XY9876", 0) and exact.confidence == pytest.approx(
        0.97, abs=0.01
    )


def test_guangdong_plates_read_with_or_without_their_chinese_characters() -> None:
    decoder = PlateDecoder(CHARACTERS)
    full = decoder.candidates(steps(YUE, "Z", "\u00b7", "A", "B", "1", "2", GANG))[0]
    assert (full.plate, full.region) == (f"{YUE}ZAB12{GANG}", "GD")
    latin = decoder.candidates(steps("Z", "Q", "7", "O", "2"))
    assert f"{YUE}ZQ702{GANG}" in [c.plate for c in latin]  # O is no GD character: 0
    misread_gang = decoder.candidates(steps(YUE, "Z", "A", "B", "1", "2", "8"))[0]
    assert misread_gang.plate == f"{YUE}ZAB12{GANG}" and misread_gang.confidence < full.confidence
    assert decoder.candidates(steps("#", "#")) == []


def test_stroke_transitions_tell_text_from_a_lamp() -> None:
    strip = np.full((48, 200), 220, dtype=np.uint8)
    for x in range(20, 180, 28):
        strip[10:38, x : x + 8] = 20
    lamp = np.full((48, 200), 40, dtype=np.uint8)
    cv2.circle(lamp, (100, 24), 20, 250, -1)
    assert stroke_transitions(strip) >= 10 and stroke_transitions(lamp) <= 2


def test_spec_routes_only_camera_frames_with_a_role() -> None:
    info = discover("smartcustoms.plugins.plate:PlateReaderPlugin")
    assert info.spec.name == "plate_reader" and info.spec.consumes == frozenset({Modality.CAMERA})
    assert {"smartcustoms_warm_up", "smartcustoms_process_batch"} <= set(info.hooks)
    from smartcustoms.core.config import PluginConfig

    camera = frozenset({Modality.CAMERA})
    with_role = frame_pb2.Frame(modality=frame_pb2.MODALITY_CAMERA, metadata={"camera_role": "red_channel"})
    without = frame_pb2.Frame(modality=frame_pb2.MODALITY_CAMERA)
    assert accepts(info, PluginConfig(), camera, with_role) and not accepts(
        info, PluginConfig(), camera, without
    )


def test_settings_are_checked() -> None:
    assert PlateSettings.from_mapping({"camera_roles": "lane"}).camera_roles == ("lane",)
    assert PlateSettings.from_mapping(dict(SPEC.default_settings)).camera_roles == ("vehicle_lane",)
    for bad in ({"max_plate": 2}, {"min_confidence": 2}, {"squeeze": 0.1}, {"max_lines": 0}):
        with pytest.raises(ValueError):
            PlateSettings.from_mapping(bad)


def test_held_out_daylight_frames_are_read(plugin: PlateReaderPlugin) -> None:
    simulator = plates.PlateSimulator(SEED)
    shown, read = 0, 0
    for index in range(10):
        shot = simulator.generate(index, light="day")
        frame = plates.to_frame(shot, source_id="lane-1-camera", sequence=index, conveyance_id=f"car-{index}")
        (assessment,) = plugin.smartcustoms_process_batch([inline_view(frame)])
        found = {d.attributes["plate"]: d for d in assessment.detections if d.label == LABEL}
        for truth in shot.plates:
            shown += 1
            detection = found.get(truth.text)
            if detection is None:
                continue
            read += 1
            attributes = detection.attributes
            assert (
                attributes["plate_region"] == truth.region and attributes["conveyance_id"] == f"car-{index}"
            )
            assert attributes["raw_text"] and attributes["ocr_engine"].startswith("rapidocr-onnxruntime")
            x0, y0, x1, y1 = truth.box
            assert detection.box is not None
            assert (
                detection.box[0] < x1
                and detection.box[2] > x0
                and detection.box[1] < y1
                and detection.box[3] > y0
            )
            assert attributes["box"] == ",".join(f"{v:.0f}" for v in detection.box)
            assert 0 < detection.score <= 1
        if all(d.score >= plugin.settings.min_confidence for d in found.values()) and found:
            assert assessment.decision == Decision.CLEAR
    assert read >= shown - 1, f"{read} of {shown} plates read"


def test_frames_of_other_cameras_are_left_alone(plugin: PlateReaderPlugin) -> None:
    shot = plates.PlateSimulator(SEED).generate(0, light="day")
    frame = plates.to_frame(shot, source_id="red-channel-camera", sequence=1)
    frame.metadata["camera_role"] = "red_channel"
    (assessment,) = plugin.smartcustoms_process_batch([inline_view(frame)])
    assert assessment.decision == Decision.CLEAR and assessment.detections == ()


def test_no_plate_goes_to_an_officer_unless_told_otherwise(plugin: PlateReaderPlugin) -> None:
    blank = np.full((240, 320, 3), 90, dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", blank)
    assert ok
    frame = frame_pb2.Frame(
        frame_id="f1",
        modality=frame_pb2.MODALITY_CAMERA,
        encoding="jpeg",
        payload=data.tobytes(),
        metadata={"camera_role": "vehicle_lane", "conveyance_id": "car-7"},
    )
    (assessment,) = plugin.smartcustoms_process_batch([inline_view(frame)])
    assert assessment.decision == Decision.MANUAL_INSPECTION
    (unread,) = assessment.detections
    assert unread.label == "licence_plate_unread" and unread.attributes["needs_officer"] == "1"
    assert unread.attributes["conveyance_id"] == "car-7"
    lenient = PlateReaderPlugin({**SPEC.default_settings, "officer_when_unread": False})
    assert lenient.smartcustoms_process_batch([inline_view(frame)])[0].decision == Decision.CLEAR
    frame.payload = b"not an image"
    with pytest.raises(ValueError, match="no decodable image"):
        plugin.smartcustoms_process_batch([inline_view(frame)])


def eval_args(*extra: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="smartcustoms")
    kinds = top.add_subparsers(dest="system", required=True)
    cli.add_tools(kinds, None)
    return top.parse_args(["plates", *extra])


def test_eval_refuses_development_seeds_and_prints_figures(capsys: pytest.CaptureFixture[str]) -> None:
    args = eval_args("--seed", str(DEVELOPMENT_SEEDS.start))
    assert args.handler(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "develop" in error
    args = eval_args("--count", "0")
    assert args.handler(args) == 2 and "count" in capsys.readouterr().err
    args = eval_args("--count", "4", "--seed", str(SEED), "--json")
    assert args.handler(args) == 0
    report = json.loads(capsys.readouterr().out)
    overall = report["by_light"]["all"]
    assert report["seed"] == SEED and overall["frames"] == 4 and overall["plates"] >= 4
    assert 0 <= overall["exact"] <= 1 and overall["char_accuracy"] >= overall["exact"]
    assert evaluate.edit_distance("AB1234", "AB1284") == 1 and evaluate.edit_distance("", "AB") == 2
