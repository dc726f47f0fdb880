"""Reading a risk plugin's result on a record frame: which records it selected, and why."""

from __future__ import annotations

from smartcustoms.core.selections import (
    RecordSelection,
    alert_basis,
    alert_selections,
    record_count,
    selection_reason,
    selections,
)
from smartcustoms.v1 import frame_pb2, results_pb2


def detection(**attributes: str) -> results_pb2.Detection:
    return results_pb2.Detection(label="cargo_risk", score=0.9, attributes=attributes)


def result(plugin: str, *detections: results_pb2.Detection, error: str = "") -> results_pb2.PluginResult:
    return results_pb2.PluginResult(plugin=plugin, detections=detections, risk_score=0.9, error=error)


def test_the_reason_follows_the_plugins_attributes() -> None:
    assert selection_reason(detection(record_id="r1", reasons="x")) == "score"
    assert (
        selection_reason(detection(record_id="r1", explored="0")) == "score"
    )  # vehicle_risk's "not explored"
    assert selection_reason(detection(record_id="r1", explored="1")) == "exploration"
    assert selection_reason(detection(record_id="r1", explored="0", watchlist="plate")) == "watchlist"
    assert selection_reason(detection(reasons="no record named")) is None
    assert selection_reason(detection(record_id="")) is None


def test_selections_keep_order_and_flag_partial_records() -> None:
    found = selections(
        result(
            "cargo_risk",
            detection(record_id="a", partial="weight_kg"),
            detection(label="dense_region"),  # not a record selection
            detection(record_id="b", explored="1", partial=""),
        )
    )
    assert found == [RecordSelection("score", True), RecordSelection("exploration", False)]


def test_an_alert_rests_on_its_strongest_selection() -> None:
    explored = detection(record_id="e", explored="1")
    scored = detection(record_id="s")
    watched = detection(record_id="w", watchlist="driver")
    assert alert_basis(result("p", explored)) == "exploration"
    assert alert_basis(result("p", explored, scored)) == "score"
    assert alert_basis(result("p", scored, watched, explored)) == "watchlist"
    assert alert_basis(result("p")) is None


def test_alert_selections_count_live_record_plugins_only() -> None:
    verdict = results_pb2.Verdict(
        frame_id="f",
        modality=frame_pb2.MODALITY_RECORD,
        results=[
            result("vehicle_risk", detection(record_id="v", explored="1")),
            result("cargo_risk", detection(record_id="c")),
            result("quiet"),
            result("broken", detection(record_id="x"), error="boom"),
        ],
        shadow_results=[result("cargo_risk_candidate", detection(record_id="c"))],
    )
    assert alert_selections(verdict) == [("cargo_risk", "score"), ("vehicle_risk", "exploration")]
    verdict.modality = frame_pb2.MODALITY_XRAY
    assert alert_selections(verdict) == []


def test_record_count_from_metadata_else_the_inline_batch() -> None:
    batch = frame_pb2.RecordBatch(records=[frame_pb2.Record(record_id=str(i)) for i in range(3)])
    frame = frame_pb2.Frame(metadata={"record_count": "7"}, payload=batch.SerializeToString())
    assert record_count(frame) == 7
    frame.metadata["record_count"] = "seven"
    assert record_count(frame) == 3
    del frame.metadata["record_count"]
    assert record_count(frame) == 3
    assert record_count(frame_pb2.Frame()) == 0  # an empty inline batch
    assert record_count(frame_pb2.Frame(payload=b"\xff\xff not a batch")) is None
    claimed = frame_pb2.Frame(blob=frame_pb2.BlobRef(store="shm", key="k", size_bytes=10))
    assert record_count(claimed) is None
