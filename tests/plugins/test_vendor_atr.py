"""vendor_atr: a scanner's own DICOS Threat Detection Report, sent with its image, as a plugin result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from smartcustoms.core.frames import inline_view
from smartcustoms.core.manager import DEFAULT_PLUGINS, discover
from smartcustoms.core.types import VENDOR_ATR_KEY, Decision, Modality
from smartcustoms.hardware import dicos
from smartcustoms.plugins.vendor_atr import SPEC, VendorAtrPlugin, assess
from smartcustoms.v1 import frame_pb2

FIXTURES = Path("/work/shared/data/dicos")
IMPORT_PATH = "smartcustoms.plugins.vendor_atr:VendorAtrPlugin"


def _report(decision: str = "ALARM", **fields: object) -> str:
    threats = [
        {"id": 1, "category": "PI", "description": "Pistol", "flag": "HIGH_THREAT", "probability": 0.93,
         "base": [10, 20, 0], "extents": [30, 40, 1]},
        {"id": 2, "category": "ANOMALY", "description": "Dense", "flag": "NO_THREAT", "probability": 0.2,
         "base": [0, 0, 0], "extents": [5, 5, 1]},
        {"id": 3, "category": "EXPLOSIVE", "flag": "THREAT", "base": [1, 2, 3], "extents": [4, 5, 6]},
    ]  # fmt: skip
    return json.dumps(
        {"decision": decision, "abort": "SUCCESS", "algorithm": "Acme ATR 4.2", "threats": threats, **fields}
    )


def test_it_is_a_built_in_that_runs_in_the_worker_on_frames_that_carry_a_report() -> None:
    info = discover(IMPORT_PATH)
    assert IMPORT_PATH in DEFAULT_PLUGINS
    assert info.processes_frames and info.spec is SPEC
    assert SPEC.consumes == frozenset({Modality.XRAY, Modality.CT})
    assert SPEC.requires_metadata == frozenset({VENDOR_ATR_KEY}) and SPEC.placement == "worker"


def test_an_alarm_brings_the_flagged_threat_objects_with_their_boxes() -> None:
    assessment = assess(_report())
    assert assessment.decision is Decision.ALARM
    pistol, explosive = assessment.detections  # the NO_THREAT object is left out
    assert (pistol.label, pistol.score, pistol.box, pistol.volume) == (
        "prohibited_item",
        0.93,
        (10, 20, 40, 60),
        None,
    )
    assert pistol.explanation == "the scanner's ATR (Acme ATR 4.2): Pistol, HIGH_THREAT"
    assert dict(pistol.attributes) == {
        "category": "PI", "assessment": "HIGH_THREAT", "pto_id": "1", "algorithm": "Acme ATR 4.2"
    }  # fmt: skip
    assert (explosive.label, explosive.score, explosive.box) == (
        "explosive",
        1.0,
        (1, 2, 5, 7),
    )  # no probability
    assert dicos.threat_category(pistol.label) == "PI"  # a TDR written from the verdict keeps the category


def test_a_ct_report_gives_volumes() -> None:
    (_, explosive) = assess(_report(), volumetric=True).detections[:2]
    assert (explosive.box, explosive.volume) == (None, (1, 2, 3, 5, 7, 9))


@pytest.mark.parametrize(
    ("report", "label", "why"),
    [
        (_report("UNKNOWN", abort="ABORT", abort_reasons=["TIMEOUT"]), "vendor_atr_undecided",
         "UNKNOWN, abort ABORT (TIMEOUT)"),
        (_report("ALARM", abort="ABORT"), "vendor_atr_undecided", "ALARM, abort ABORT (none given)"),
        (_report(""), "vendor_atr_undecided", "no decision"),
        ("{not json", "vendor_report_unreadable", "could not be read"),
        (json.dumps(["a list"]), "vendor_report_unreadable", "could not be read"),
        (_report("ALARM", threats=[{"flag": "THREAT", "probability": "high"}]), "vendor_report_unreadable",
         "high"),
    ],
)  # fmt: skip
def test_an_undecided_or_unreadable_report_sends_the_bag_to_an_officer(
    report: str, label: str, why: str
) -> None:
    assessment = assess(report)
    assert assessment.decision is Decision.MANUAL_INSPECTION
    (detection,) = assessment.detections
    assert detection.label == label and why in detection.explanation


def test_odd_values_in_a_report_do_not_make_odd_detections() -> None:
    threats = [
        {"flag": "THREAT", "probability": float("nan"), "base": [50, 60, 0], "extents": [-20, -30, 1]},
        {"flag": "THREAT", "probability": 0.4, "base": [1, 2, 0], "extents": [float("inf"), 3, 1]},
    ]
    inverted, endless = assess(_report("ALARM", threats=threats)).detections
    assert (inverted.score, inverted.box) == (1.0, (30, 30, 50, 60))  # NaN: the flag stands; corners sorted
    assert (endless.score, endless.box) == (0.4, None)  # no usable region: no box
    deep = assess(
        _report("ALARM", threats=[{"flag": "THREAT", "base": [1, 2, 10], "extents": [3, 4, -4]}]),
        volumetric=True,
    )
    assert deep.detections[0].volume == (1, 2, 6, 4, 6, 10)  # a negative depth too: between its corners
    huge = assess(_report("ALARM", threats=[{"flag": "THREAT", "probability": 10**400}]))
    assert huge.decision is Decision.MANUAL_INSPECTION  # too large for a float: unreadable, not a crash
    undecided = assess(_report("UNKNOWN", abort="ABORT", abort_reasons="TIMEOUT"))
    assert undecided.detections[0].explanation.endswith("(TIMEOUT)")  # a string, not its letters


def test_a_clear_report_clears_and_an_alarm_without_flagged_objects_still_alarms() -> None:
    assert assess(_report("CLEAR")).decision is Decision.CLEAR
    nothing_flagged = assess(_report("ALARM", threats=[{"flag": "NO_THREAT", "category": "PI"}]))
    assert nothing_flagged.decision is Decision.ALARM
    assert [d.label for d in nothing_flagged.detections] == ["vendor_atr_alarm"]
    odd = assess(_report("ALARM", threats=[{"flag": "threat", "category": "XYZ", "probability": 7}]))
    assert [(d.label, d.score, d.box) for d in odd.detections] == [("other", 1.0, None)]  # clamped, no region


def _ct_referenced_as(tmp_path: Path, uid: str) -> Path:
    path = tmp_path / "ct.dcs"
    dicos.write_ct(path, np.zeros((4, 8, 8), np.uint16))
    with pydicom.config.disable_value_validation():  # the SDK's UIDs have leading-zero components
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.save_as(path)
    return path


def test_the_real_multiple_pto_report_goes_with_its_ct_and_alarms_on_its_high_threat(tmp_path: Path) -> None:
    # pyDICOS' MultiplePTOsTDR.dcs (shared/data/dicos): ALARM, a HIGH_THREAT flammable liquid (PI) and a
    # NO_THREAT anomaly, both on the CT image it references
    ct = _ct_referenced_as(tmp_path, "1235.23456.568678.34546")
    (frame,) = dicos.read_frames([FIXTURES / "MultiplePTOsTDR.dcs", ct], source_id="ct-3", first_sequence=1)
    assert frame.modality == frame_pb2.MODALITY_CT and VENDOR_ATR_KEY in frame.metadata
    [assessment] = VendorAtrPlugin().smartcustoms_process_batch([inline_view(frame)])
    assert assessment.decision is Decision.ALARM
    (liquid,) = assessment.detections
    assert (liquid.label, liquid.volume) == ("prohibited_item", (12.0, 23.0, 45.0, 62.0, 73.0, 145.0))
    assert (
        liquid.explanation
        == "the scanner's ATR (Alchemy 0.999 -random=true -magic=true): Flammable Liquid, HIGH_THREAT"
    )


def test_the_real_no_threat_report_clears(tmp_path: Path) -> None:
    ct = _ct_referenced_as(tmp_path, "0232991244.48991.19437.216078.101124243037133022")
    (frame,) = dicos.read_frames(
        [ct, FIXTURES / "SimpleBaggageNoThreatTDR.dcs"], source_id="ct-3", first_sequence=1
    )
    [assessment] = VendorAtrPlugin().smartcustoms_process_batch([inline_view(frame)])
    assert assessment == assess(frame.metadata[VENDOR_ATR_KEY]) and assessment.decision is Decision.CLEAR
