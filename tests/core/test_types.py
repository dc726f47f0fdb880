"""Domain types: modality and decision numbers on the wire, detections, assessments."""

from __future__ import annotations

import pytest

from smartcustoms.core.types import ALL_MODALITIES, Assessment, Decision, Detection, Modality
from smartcustoms.v1 import frame_pb2, results_pb2


@pytest.mark.parametrize(
    ("modality", "number"),
    [
        (Modality.XRAY, frame_pb2.MODALITY_XRAY),
        (Modality.CT, frame_pb2.MODALITY_CT),
        (Modality.CAMERA, frame_pb2.MODALITY_CAMERA),
        (Modality.RFID, frame_pb2.MODALITY_RFID),
        (Modality.RECORD, frame_pb2.MODALITY_RECORD),
    ],
)
def test_modality_proto_round_trip(modality: Modality, number: int) -> None:
    assert modality.to_proto() == number
    assert Modality.from_proto(number) is modality


def test_every_proto_modality_is_mapped() -> None:
    numbers = {value.number for value in frame_pb2.Modality.DESCRIPTOR.values} - {
        frame_pb2.MODALITY_UNSPECIFIED
    }
    assert {Modality.from_proto(n) for n in numbers} == set(Modality) == ALL_MODALITIES


@pytest.mark.parametrize("number", [frame_pb2.MODALITY_UNSPECIFIED, 99, -1])
def test_modality_from_unknown_number(number: int) -> None:
    with pytest.raises(ValueError, match=f"unknown modality {number}"):
        Modality.from_proto(number)


def test_modality_values_are_labels() -> None:
    assert [m.value for m in Modality] == ["xray", "ct", "camera", "rfid", "record"]


@pytest.mark.parametrize(
    ("decision", "number"),
    [
        (Decision.CLEAR, results_pb2.DECISION_CLEAR),
        (Decision.ALARM, results_pb2.DECISION_ALARM),
        (Decision.MANUAL_INSPECTION, results_pb2.DECISION_MANUAL_INSPECTION),
    ],
)
def test_decision_proto_round_trip(decision: Decision, number: int) -> None:
    assert decision.to_proto() == number
    assert Decision.from_proto(number) is decision


def test_detection_to_proto_with_box() -> None:
    detection = Detection(
        "dense_object", 0.5, box=(1.0, 2.0, 30.0, 40.0), explanation="why", attributes={"area_px": "7"}
    )
    message = detection.to_proto("dense_region", "1.2.3")
    assert message.WhichOneof("region") == "box"
    assert (message.box.x_min, message.box.y_min, message.box.x_max, message.box.y_max) == (1, 2, 30, 40)
    assert (message.label, message.score, message.explanation) == ("dense_object", 0.5, "why")
    assert dict(message.attributes) == {"area_px": "7"}
    assert (message.plugin, message.plugin_version) == ("dense_region", "1.2.3")


def test_detection_to_proto_with_volume() -> None:
    message = Detection("knife", 0.75, volume=(1, 2, 3, 4, 5, 6)).to_proto("ct_plugin", "2")
    assert message.WhichOneof("region") == "volume"
    volume = message.volume
    assert (volume.x_min, volume.y_min, volume.z_min, volume.x_max, volume.y_max, volume.z_max) == (
        1,
        2,
        3,
        4,
        5,
        6,
    )


def test_detection_to_proto_without_region() -> None:
    message = Detection("foreign_tag", 1.0).to_proto("rfid_epc_check", "1")
    assert message.WhichOneof("region") is None
    assert message.explanation == "" and dict(message.attributes) == {}


def test_detection_box_wins_over_volume() -> None:
    message = Detection("x", 1.0, box=(0, 0, 1, 1), volume=(0, 0, 0, 1, 1, 1)).to_proto("p", "1")
    assert message.WhichOneof("region") == "box"


def test_assessment_shortcuts() -> None:
    found = Detection("x", 1.0)
    assert Assessment.clear() == Assessment(Decision.CLEAR, (), 0.0)
    assert Assessment.alarm(found) == Assessment(Decision.ALARM, (found,), 1.0)
    assert Assessment.alarm(risk_score=0.7) == Assessment(Decision.ALARM, (), 0.7)
