"""DICOS: real TDR fixtures, CT and DX images in as frames, verdicts out as Threat Detection Reports."""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
import redis.asyncio as aioredis
from pydicom.uid import RLELossless

from smartcustoms.core.config import Config
from smartcustoms.hardware import adapters_cli, dicos
from smartcustoms.runtime import tdr_cli
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2, results_pb2

FIXTURES = Path("/work/shared/data/dicos")
ACQUIRED = dt.datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
ACQUIRED_US = int(ACQUIRED.timestamp()) * 1_000_000 + ACQUIRED.microsecond
CT_GEOMETRY = dicos.Geometry(
    pixel_spacing_mm=(0.5, 0.75), slice_spacing_mm=2.0, image_position_mm=(-100.0, -50.0, 10.0)
)


def _parse(argv: list[str]) -> argparse.Namespace:
    """The arguments as ``smartcustoms`` parses them: DICOS in from hardware, TDRs out from the runtime."""
    top = argparse.ArgumentParser(prog="smartcustoms")
    top.add_argument("--config")
    commands = top.add_subparsers(dest="command", required=True)
    adapters_cli.add_parser(commands)
    tdr_cli.add_parser(commands)
    for sub in commands.choices.values():
        sub.add_argument("--config", default=argparse.SUPPRESS)
    return top.parse_args(argv)


# --------------------------------------------------------------------------- the real TDR fixtures


def test_the_no_threat_fixture_reads_as_clear() -> None:
    report = dicos.read_tdr(FIXTURES / "SimpleBaggageNoThreatTDR.dcs")
    assert (report.alarm_decision, report.tdr_type, report.abort_flag) == ("CLEAR", "MACHINE", "SUCCESS")
    assert report.threats == ()
    assert (report.total_objects, report.alarm_objects) == (0, 0)
    assert report.ooi_type == "BAGGAGE"
    assert report.algorithm[:2] == ("Alchemy", "0.999")
    assert report.referenced_sop_instance_uids == ("0232991244.48991.19437.216078.101124243037133022",)


def test_the_multiple_pto_fixture_reads_every_threat_object() -> None:
    report = dicos.read_tdr(FIXTURES / "MultiplePTOsTDR.dcs")
    assert (report.alarm_decision, report.tdr_type) == ("ALARM", "MACHINE")
    assert (report.total_objects, report.alarm_objects) == (2, 1)
    assert report.ooi_id == "12345-35345324-6326342-345"
    anomaly, liquid = report.threats
    assert (anomaly.pto_id, liquid.pto_id) == (2002, 9001)
    assert (anomaly.category, anomaly.assessment_flag, anomaly.ability_assessment) == (
        "ANOMALY",
        "NO_THREAT",
        "NO_INTERFERENCE",
    )
    assert (liquid.category, liquid.description, liquid.assessment_flag) == (
        "PI",
        "Flammable Liquid",
        "HIGH_THREAT",
    )
    assert (anomaly.roi_base, anomaly.roi_extents) == ((1.0, 23.0, 95.0), (22.0, 33.0, 444.0))
    assert (liquid.roi_base, liquid.roi_extents) == ((12.0, 23.0, 45.0), (50.0, 50.0, 100.0))
    assert (anomaly.mass, anomaly.density, liquid.mass, liquid.density) == (100.0, 40.0, 50.0, 7000.0)
    assert anomaly.bounding_polygon == ((0.0, 0.0, 0.0),) * 3
    assert {uid for t in report.threats for uid in t.referenced_sop_instance_uids} == {
        "1235.23456.568678.34546"
    }


def test_reading_an_image_or_a_non_dicom_file_as_something_else_fails_plainly(tmp_path: Path) -> None:
    with pytest.raises(dicos.DicosError, match="not a DICOS CT or DX image \\(a Threat Detection Report\\)"):
        dicos.read_image(FIXTURES / "MultiplePTOsTDR.dcs")
    ct = tmp_path / "ct.dcs"
    dicos.write_ct(ct, np.zeros((2, 3, 4), np.uint16))
    with pytest.raises(dicos.DicosError, match="not a DICOS Threat Detection Report"):
        dicos.read_tdr(ct)
    text = tmp_path / "notes.txt"
    text.write_text("not a scan")
    with pytest.raises(dicos.DicosError, match="not a DICOM/DICOS file"):
        dicos.read_image(text)


# --------------------------------------------------------------------------- images in


def _ct(tmp_path: Path, volume: np.ndarray) -> Path:
    path = tmp_path / "ct.dcs"
    dicos.write_ct(
        path,
        volume,
        geometry=CT_GEOMETRY,
        identity=dicos.Identity(ooi_id="BAG-0042", ooi_id_type="BARCODE", acquired=ACQUIRED),
        rescale_intercept=-1024.0,
        kvp=160.0,
    )
    return path


def test_a_ct_volume_round_trips_with_its_geometry_and_identity(tmp_path: Path) -> None:
    volume = np.random.default_rng(0).integers(0, 4096, (5, 6, 7), dtype=np.uint16)
    image = dicos.read_image(_ct(tmp_path, volume))
    assert image.modality.value == "ct"
    assert image.array.dtype == np.dtype("<u2")
    np.testing.assert_array_equal(image.array, volume)
    meta = image.metadata
    assert {k: meta[k] for k in ("rows", "columns", "frames")} == {"rows": "6", "columns": "7", "frames": "5"}
    assert meta["pixel_spacing_mm"] == "0.5,0.75"
    assert (meta["slice_thickness_mm"], meta["spacing_between_slices_mm"]) == ("2", "2")
    assert meta["image_orientation"] == "1,0,0,0,1,0"
    assert (meta["image_position_mm"], meta["image_position_last_mm"]) == ("-100,-50,10", "-100,-50,18")
    assert (meta["rescale_slope"], meta["rescale_intercept"], meta["rescale_type"]) == ("1", "-1024", "HU")
    assert meta["kvp"] == "160"
    assert (meta["ooi_id"], meta["ooi_id_type"], meta["ooi_type"]) == ("BAG-0042", "BARCODE", "BAGGAGE")
    assert meta["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.501.1"
    assert meta["sop_instance_uid"] and meta["study_instance_uid"] and meta["frame_of_reference_uid"]


def test_a_ct_file_becomes_a_raw_little_endian_ct_frame(tmp_path: Path) -> None:
    volume = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5) - 30  # signed HU-like values
    (frame,) = dicos.read_frames([_ct(tmp_path, volume)], source_id="lane-2-ct", control_point="lok-ma-chau")
    assert (frame.modality, list(frame.shape), frame.dtype) == (
        frame_pb2.MODALITY_CT,
        [3, 4, 5],
        frame_pb2.DTYPE_INT16,
    )
    assert (frame.encoding, frame.payload) == ("raw", volume.astype("<i2").tobytes())
    assert (frame.source_id, frame.conveyance_id, frame.control_point) == (
        "lane-2-ct",
        "BAG-0042",
        "lok-ma-chau",
    )
    assert frame.capture_time.ToMicroseconds() == frame.sequence == ACQUIRED_US  # time-based sequence
    assert frame.metadata["sop_instance_uid"] == pydicom.dcmread(tmp_path / "ct.dcs").SOPInstanceUID


def test_compressed_pixel_data_is_decoded(tmp_path: Path) -> None:
    volume = np.random.default_rng(1).integers(0, 60_000, (4, 8, 8), dtype=np.uint16)
    path = _ct(tmp_path, volume)
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(path)
    np.testing.assert_array_equal(dicos.read_image(path).array, volume)


def test_dual_energy_dx_files_of_one_scan_become_one_frame_high_energy_first(tmp_path: Path) -> None:
    scan = dicos.Identity(ooi_id="BAG-7", study_instance_uid="1.2.826.0.1.3680043.10.1.7", acquired=ACQUIRED)
    other = dicos.Identity(ooi_id="BAG-8", acquired=ACQUIRED)
    geometry = dicos.Geometry(pixel_spacing_mm=(0.8, 0.8))
    paths = {}
    for name, identity, kvp, value in (
        ("low", scan, 80, 100),
        ("other", other, 140, 7),
        ("high", scan, 140, 200),
    ):
        paths[name] = tmp_path / f"{name}.dcs"
        image = np.full((16, 12), value, np.uint16)
        dicos.write_dx(paths[name], image, geometry=geometry, identity=identity, kvp=kvp)
    frames = dicos.read_frames([paths["low"], paths["other"], paths["high"]], source_id="lane-1-xray")
    dual, single = frames
    assert (dual.modality, list(dual.shape), dual.conveyance_id) == (
        frame_pb2.MODALITY_XRAY,
        [2, 16, 12],
        "BAG-7",
    )
    channels = np.frombuffer(dual.payload, "<u2").reshape(2, 16, 12)
    assert (channels[0, 0, 0], channels[1, 0, 0]) == (200, 100)
    assert (dual.metadata["kvp"], dual.metadata["energies"]) == ("140,80", "2")
    uids = [pydicom.dcmread(paths[name]).SOPInstanceUID for name in ("high", "low")]
    assert dual.metadata["sop_instance_uid"] == ",".join(uids)
    assert dual.metadata["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.501.2.2"
    assert (list(single.shape), single.conveyance_id, single.metadata["kvp"]) == ([1, 16, 12], "BAG-8", "140")
    numbered = dicos.read_frames([paths["other"], paths["high"]], source_id="s", first_sequence=10)
    assert [f.sequence for f in numbered] == [10, 11]


def _dx_scan(tmp_path: Path, name: str) -> tuple[list[Path], dicos.Identity]:
    scan = dicos.Identity(
        ooi_id=f"BAG-{name}", study_instance_uid=pydicom.uid.generate_uid(), acquired=ACQUIRED
    )
    files = []
    for kvp in (140, 80):
        files.append(tmp_path / f"{name}-{kvp}.dcs")
        dicos.write_dx(files[-1], np.full((16, 12), kvp, np.uint16), identity=scan, kvp=kvp)
    return files, scan


def _machine_report(path: Path, source: dict[str, str], decision: int = results_pb2.DECISION_ALARM) -> Path:
    verdict = _verdict(decision)
    result = verdict.results.add(plugin="acme_atr", plugin_version="4.2", decision=decision)
    knife = result.detections.add(label="knife", score=0.88, explanation="blade")
    knife.box.CopyFrom(results_pb2.Box2D(x_min=2, y_min=3, x_max=7, y_max=9))
    dicos.write_tdr(path, verdict, source)
    return path


def test_a_scanners_report_goes_with_the_image_it_references(tmp_path: Path) -> None:
    bag, _ = _dx_scan(tmp_path, "a")
    other, other_scan = _dx_scan(tmp_path, "b")
    source = dict(dicos.read_frames(bag, source_id="s")[0].metadata)
    report = _machine_report(tmp_path / "a-tdr.dcs", source)
    # by the scan alone: a report that names no image but its scan instance UID
    by_scan = _machine_report(tmp_path / "b-tdr.dcs", {"study_instance_uid": other_scan.study_instance_uid})
    frames = dicos.read_frames([report, *other, by_scan, *bag], source_id="lane-1", first_sequence=1)
    assert [f.conveyance_id for f in frames] == ["BAG-b", "BAG-a"]  # reports are not frames
    atr = json.loads(frames[1].metadata[dicos.VENDOR_ATR_KEY])
    assert (atr["decision"], atr["abort"], atr["report"]) == (
        "ALARM",
        "SUCCESS",
        dicos.read_tdr(report).sop_instance_uid,
    )
    (knife,) = atr["threats"]
    assert (knife["category"], knife["flag"]) == ("PI", "THREAT") and knife["probability"] == pytest.approx(
        0.88
    )
    assert (knife["base"], knife["extents"]) == ([2.0, 3.0, 0.0], [5.0, 6.0, 1.0])
    assert (
        json.loads(frames[0].metadata[dicos.VENDOR_ATR_KEY])["report"]
        == dicos.read_tdr(by_scan).sop_instance_uid
    )
    assert dicos.VENDOR_ATR_KEY not in dicos.read_frames(other, source_id="s")[0].metadata
    odd = dicos.read_tdr(report)
    nan = replace(
        odd,
        threats=(replace(odd.threats[0], probability=float("nan"), roi_extents=(1.0, float("inf"), 1.0)),),
    )
    (threat,) = json.loads(dicos.vendor_atr(nan))["threats"]  # strict JSON: no NaN reaches the plugin
    assert (threat["probability"], threat["extents"], threat["base"]) == (None, None, [2.0, 3.0, 0.0])


def test_a_report_on_the_views_of_a_multi_view_scan_goes_with_each_with_its_objects(tmp_path: Path) -> None:
    scan = dicos.Identity(ooi_id="BAG-mv", study_instance_uid=pydicom.uid.generate_uid(), acquired=ACQUIRED)
    side = dicos.Geometry(image_orientation=(0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    views: dict[str, list[Path]] = {"top": [], "side": []}
    for view, geometry in (("top", dicos.Geometry()), ("side", side)):
        for kvp in (140, 80):  # the same scan, size and energies: only the orientation tells the views
            views[view].append(tmp_path / f"{view}-{kvp}.dcs")
            image = np.full((16, 12), kvp, np.uint16)
            dicos.write_dx(views[view][-1], image, identity=scan, kvp=kvp, geometry=geometry)
    top, side_view = dicos.read_frames([*views["top"], *views["side"]], source_id="s")
    assert top.metadata["image_orientation"] != side_view.metadata["image_orientation"]
    assert list(top.shape) == list(side_view.shape) == [2, 16, 12]
    assert side_view.sequence == top.sequence - 1  # one time, one source: each view a sequence of its own
    again = dicos.read_frames([*views["side"], *views["top"]], source_id="s")
    assert {(f.metadata["image_orientation"], f.sequence) for f in again} == {
        (f.metadata["image_orientation"], f.sequence) for f in (top, side_view)
    }
    # the machine's report: one object on each view, and one that names no view
    report = pydicom.dcmread(_machine_report(tmp_path / "top-tdr.dcs", dict(top.metadata)))
    other = pydicom.dcmread(_machine_report(tmp_path / "side-tdr.dcs", dict(side_view.metadata)))
    unplaced = copy.deepcopy(other.ThreatSequence[0])
    del unplaced.PTORepresentationSequence[0].ReferencedInstanceSequence
    report.ReferencedStudySequence.extend(other.ReferencedStudySequence)
    report.ThreatSequence.extend([other.ThreatSequence[0], unplaced])
    for number, item in enumerate(report.ThreatSequence, start=1):
        item.PotentialThreatObjectID = number
    report.NumberOfTotalObjects = 3
    both = tmp_path / "both-tdr.dcs"
    report.save_as(both)
    frames = dicos.read_frames([both, *views["top"], *views["side"]], source_id="s")
    placed = {}
    for frame in frames:
        threats = json.loads(frame.metadata[dicos.VENDOR_ATR_KEY])["threats"]
        placed[frame.metadata["image_orientation"]] = {t["id"]: t["base"] for t in threats}
    assert placed == {
        top.metadata["image_orientation"]: {1: [2.0, 3.0, 0.0], 3: None},
        side_view.metadata["image_orientation"]: {2: [2.0, 3.0, 0.0], 3: None},
    }
    with pytest.raises(
        dicos.DicosError, match="is none of the images given: give the report with its images"
    ):
        dicos.read_frames([both, *views["top"]], source_id="s")  # one of its views missing


def test_energies_stack_whatever_their_orientation_says_and_every_frame_gets_a_sequence_of_its_own(
    tmp_path: Path,
) -> None:
    scan = dicos.Identity(ooi_id="BAG-o", study_instance_uid=pydicom.uid.generate_uid(), acquired=ACQUIRED)
    files = []
    for kvp, orientation in ((140, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)), (80, (1.0, -0.0, 6e-17, 0.0, 1.0, 0.0))):
        files.append(tmp_path / f"o-{kvp}.dcs")
        geometry = dicos.Geometry(image_orientation=orientation)
        dicos.write_dx(
            files[-1], np.full((16, 12), kvp, np.uint16), identity=scan, kvp=kvp, geometry=geometry
        )
    (frame,) = dicos.read_frames(files, source_id="s")  # -0 and 6e-17 are the same cosines
    assert list(frame.shape) == [2, 16, 12]
    ds = pydicom.dcmread(files[1])
    del ds.ImageOrientationPatient  # one energy's file gives no orientation: it joins the other's view
    ds.save_as(files[1])
    (frame,) = dicos.read_frames(files, source_id="s")
    assert list(frame.shape) == [2, 16, 12]

    # eight scans without any acquisition time: numbered from the clock, each its own
    undated = []
    for n in range(8):
        bag, _ = _dx_scan(tmp_path, f"u{n}")
        for path in bag:
            ds = pydicom.dcmread(path)
            for keyword in ("AcquisitionDateTime", "ContentDate", "ContentTime"):
                if keyword in ds:
                    delattr(ds, keyword)
            ds.save_as(path)
        undated += bag
    numbers = [f.sequence for f in dicos.read_frames(undated, source_id="s")]
    assert len(set(numbers)) == 8 and numbers == sorted(numbers)

    # two views at time T and another bag at T + 1 us: three numbers, the same in any order
    later = dicos.Identity(
        ooi_id="BAG-l", study_instance_uid=pydicom.uid.generate_uid(),
        acquired=ACQUIRED + dt.timedelta(microseconds=1),
    )  # fmt: skip
    dicos.write_dx(tmp_path / "later.dcs", np.full((16, 12), 9, np.uint16), identity=later, kvp=140)
    side = dicos.Geometry(image_orientation=(0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    dicos.write_dx(
        tmp_path / "side.dcs", np.full((16, 12), 7, np.uint16), identity=scan, kvp=140, geometry=side
    )
    views = [files[0], tmp_path / "side.dcs", tmp_path / "later.dcs"]
    forward = {
        f.conveyance_id + f.metadata["image_orientation"]: f.sequence
        for f in dicos.read_frames(views, source_id="s")
    }
    backward = {
        f.conveyance_id + f.metadata["image_orientation"]: f.sequence
        for f in dicos.read_frames(views[::-1], source_id="s")
    }
    assert forward == backward and len(set(forward.values())) == 3


def test_a_report_without_its_image_or_not_the_machines_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag, _ = _dx_scan(tmp_path, "a")
    source = dict(dicos.read_frames(bag, source_id="s")[0].metadata)
    report = _machine_report(tmp_path / "tdr.dcs", source)
    with pytest.raises(dicos.DicosError, match=r"report.s image .* is none of the images given"):
        dicos.read_frames([report], source_id="s")
    with pytest.raises(dicos.DicosError, match="a second report for one image"):
        dicos.read_frames([*bag, report, report], source_id="s")
    operator = tmp_path / "operator.dcs"
    ds = pydicom.dcmread(report)
    ds.TDRType = "OPERATOR"
    ds.save_as(operator)
    with pytest.raises(dicos.DicosError, match="of type OPERATOR: only the scanner's own"):
        dicos.read_frames([*bag, operator], source_id="s")
    for decision, abort, accepted in (
        ("MAYBE", "SUCCESS", False),
        ("", "SUCCESS", False),
        ("", "ABORT", True),
    ):
        odd = tmp_path / f"decision-{decision}-{abort}.dcs"
        ds.TDRType, ds.AlarmDecision, ds.AbortFlag = "MACHINE", decision, abort
        ds.save_as(odd)
        if accepted:  # an aborted report may decide nothing: the plugin then sends the bag to an officer
            (frame,) = dicos.read_frames([*bag, odd], source_id="s")
            assert json.loads(frame.metadata[dicos.VENDOR_ATR_KEY])["abort"] == "ABORT"
        else:
            with pytest.raises(dicos.DicosError, match="malformed Threat Detection Report: decision"):
                dicos.read_frames([*bag, odd], source_id="s")
    ds.AlarmDecision, ds.AbortFlag = "ALARM", "SUCCESS"
    miscounted = tmp_path / "miscounted.dcs"
    ds.TDRType, ds.NumberOfTotalObjects = "MACHINE", 3
    ds.save_as(miscounted)
    with pytest.raises(
        dicos.DicosError, match="malformed Threat Detection Report: decision ALARM, 1 threat objects of 3"
    ):
        dicos.read_frames([*bag, miscounted], source_id="s")
    cut = tmp_path / "cut-tdr.dcs"
    whole = (FIXTURES / "MultiplePTOsTDR.dcs").read_bytes()
    cut.write_bytes(whole[:-4])  # inside the value of its last element: pydicom reads the 4 bytes there are
    with pytest.raises(dicos.DicosError, match="cut short inside its last element"):
        dicos.read_tdr(cut)
    cut.write_bytes(whole[:-40])  # inside the header of an element further back
    with pytest.raises(dicos.DicosError, match=r"cut-tdr\.dcs: malformed DICOS file, No tag to read"):
        dicos.read_frames([*bag, cut], source_id="s")
    args = _parse(["ingest-dicos", str(report), "--gateway", "127.0.0.1:1", "--source-id", "s"])
    assert args.handler(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("smartcustoms ingest-dicos: ") and "give the report with its image" in line


def test_writers_refuse_what_they_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="depth, height, width"):
        dicos.write_ct(tmp_path / "a.dcs", np.zeros((3, 4), np.uint16))
    with pytest.raises(ValueError, match="one file per energy"):
        dicos.write_dx(tmp_path / "a.dcs", np.zeros((2, 3, 4), np.uint16))
    with pytest.raises(ValueError, match="float32 is not written"):
        dicos.write_ct(tmp_path / "a.dcs", np.zeros((2, 3, 4), np.float32))


# --------------------------------------------------------------------------- TDRs out


def _verdict(decision: int = results_pb2.DECISION_ALARM) -> results_pb2.Verdict:
    verdict = results_pb2.Verdict(
        frame_id="ct-frame-1", source_id="lane-2-ct", conveyance_id="BAG-0042", decision=decision
    )
    verdict.accepted_time.FromMicroseconds(ACQUIRED_US)
    verdict.decided_time.FromMicroseconds(ACQUIRED_US + 250_000)
    return verdict


def test_a_verdict_with_3d_and_2d_regions_is_written_and_read_back_field_by_field(tmp_path: Path) -> None:
    source = dicos.read_image(_ct(tmp_path, np.zeros((10, 20, 30), np.uint16))).metadata
    verdict = _verdict()
    result = verdict.results.add(
        plugin="ct_threats",
        plugin_version="2.1.0",
        decision=results_pb2.DECISION_ALARM,
        duration_seconds=0.125,
    )
    gun = result.detections.add(label="firearm", score=0.97, explanation="matched pistol silhouette")
    gun.volume.CopyFrom(results_pb2.Box3D(x_min=2, y_min=4, z_min=1, x_max=12, y_max=10, z_max=5))
    carton = result.detections.add(label="cigarettes", score=0.6)
    carton.box.CopyFrom(results_pb2.Box2D(x_min=3, y_min=5, x_max=9, y_max=15))
    clear = verdict.results.add(
        plugin="dense_region", plugin_version="1.0.0", decision=results_pb2.DECISION_CLEAR
    )
    clear.detections.add(label="dense_object", score=0.2, explanation="below the area limit")
    path = tmp_path / "tdr.dcs"
    dicos.write_tdr(path, verdict, source)

    report = dicos.read_tdr(path)
    assert (report.alarm_decision, report.tdr_type, report.abort_flag, report.abort_reasons) == (
        "ALARM",
        "MACHINE",
        "SUCCESS",
        (),
    )
    assert report.algorithm[0] == "smartcustoms" and report.algorithm[2:] == (
        "ct_threats=2.1.0",
        "dense_region=1.0.0",
    )
    assert report.alarm_decision_time == "20250304050608.140123+0000"
    assert (report.ooi_id, report.ooi_type, report.study_instance_uid) == (
        "BAG-0042",
        "BAGGAGE",
        source["study_instance_uid"],
    )
    assert report.referenced_sop_instance_uids == (source["sop_instance_uid"],)
    assert (report.total_objects, report.alarm_objects) == (3, 2)
    first, second, third = report.threats
    assert [t.pto_id for t in report.threats] == [1, 2, 3]
    assert (first.category, first.description, first.assessment_flag, first.ability_assessment) == (
        "PI",
        "firearm: matched pistol silhouette",
        "HIGH_THREAT",
        "NO_INTERFERENCE",
    )
    assert first.probability == pytest.approx(0.97, abs=1e-6)
    assert (first.roi_base, first.roi_extents) == ((2.0, 4.0, 1.0), (10.0, 6.0, 4.0))
    # voxel (x, y, z) -> mm: position + x * column spacing 0.75, y * row spacing 0.5, z * slice spacing 2
    assert first.bounding_polygon == ((-98.5, -48.0, 12.0), (-91.0, -45.0, 20.0))
    assert (second.category, second.description, second.assessment_flag) == (
        "CONTRABAND",
        "cigarettes",
        "THREAT",
    )
    assert (second.roi_base, second.roi_extents) == ((3.0, 5.0, 0.0), (6.0, 10.0, 1.0))
    assert second.bounding_polygon == ((-97.75, -47.5, 10.0), (-93.25, -42.5, 10.0))
    assert (third.category, third.assessment_flag, third.ability_assessment) == (
        "ANOMALY",
        "NO_THREAT",
        "SHIELD",
    )
    for threat in report.threats:
        assert threat.referenced_sop_instance_uids == (source["sop_instance_uid"],)

    raw = pydicom.dcmread(path)  # strict reading: what we write is valid DICOM, no warnings
    raw.walk(lambda ds, element: None)
    assert raw.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.501.3"
    assert (raw.Modality, raw.DICOSVersion, raw.TotalProcessingTime) == ("TDR", "V03", 250.0)
    pto = raw.ThreatSequence[0]
    assert pto.ATDAssessmentSequence[0].ThreatCategoryDescription == "firearm: matched pistol silhouette"
    assert pto[dicos.PTO_PROCESSING_START].VR == "DT"
    assert pto[dicos.PTO_PROCESSING_END].value == "20250304050608.140123"
    assert pto[dicos.PTO_PROCESSING_TOTAL_MS].value == 125.0
    voxels = pto.PTORepresentationSequence[0].ThreatROIVoxelSequence[0]
    assert "ThreatROIBitmap" in voxels and not voxels.ThreatROIBitmap  # empty: the whole box is the threat


def test_a_fallback_verdict_is_an_unknown_decision_with_an_abort(tmp_path: Path) -> None:
    verdict = _verdict(results_pb2.DECISION_MANUAL_INSPECTION)
    verdict.fallback_reason = "plugin_failed: ct_threats timeout after 30 s"
    dicos.write_tdr(tmp_path / "tdr.dcs", verdict)
    report = dicos.read_tdr(tmp_path / "tdr.dcs")
    assert (report.alarm_decision, report.abort_flag, report.abort_reasons) == (
        "UNKNOWN",
        "ABORT",
        ("TIMEOUT",),
    )
    assert (report.threats, report.total_objects, report.alarm_objects) == ((), 0, 0)
    assert (report.referenced_sop_instance_uids, report.ooi_id) == ((), "BAG-0042")  # no source image given


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("firearm", "PI"),
        ("knife", "PI"),
        ("explosive", "EXPLOSIVE"),
        ("cigarettes", "CONTRABAND"),
        ("phone", "CONTRABAND"),
        ("laptop", "LAPTOP"),
        ("dense_object", "ANOMALY"),
        ("hidden-compartment", "ANOMALY"),
        ("firearm_pistol", "PI"),
        ("medicine", "PHARMACEUTICAL"),
        ("umbrella", "OTHER"),
    ],
)
def test_detection_labels_map_to_dicos_threat_categories(label: str, category: str) -> None:
    assert dicos.threat_category(label) == category


# --------------------------------------------------------------------------- through the runtime


async def _wait_for_verdict(config: Config, frame_id: str, timeout_s: float = 60.0) -> results_pb2.Verdict:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while (verdict := await ledger.verdict(frame_id)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no verdict for {frame_id}")
            await asyncio.sleep(0.05)
        return verdict
    finally:
        await client.aclose()


@pytest.mark.integration
def test_a_dual_energy_dx_scan_goes_in_and_its_verdict_comes_out_as_a_tdr(
    runtime_config: Config,
    start_stack: Callable[[Config], Stack],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = start_stack(runtime_config)
    scan = dicos.Identity(
        ooi_id="BAG-DENSE-1",
        ooi_id_type="RFID",
        acquired=ACQUIRED,
        study_instance_uid=pydicom.uid.generate_uid(),
    )
    files = []
    for kvp in (140, 80):
        image = np.full((128, 128), 60_000, np.uint16)
        image[10:60, 20:80] = 100  # nearly opaque in both energies: a dense-object alarm
        files.append(tmp_path / f"dx-{kvp}.dcs")
        dicos.write_dx(
            files[-1], image, identity=scan, kvp=kvp, geometry=dicos.Geometry(pixel_spacing_mm=(0.5, 0.5))
        )

    # the scanner's own ATR found a knife: its report goes in with the scan (vendor_atr)
    vendor = _machine_report(
        tmp_path / "scanner-tdr.dcs", dict(dicos.read_frames(files, source_id="s")[0].metadata)
    )

    args = _parse(
        [
            "ingest-dicos",
            *map(str, files),
            str(vendor),
            "--gateway",
            stack.gateway_target,
            "--source-id",
            "lane-9-dx",
        ]
    )
    assert args.handler(args) == 0
    (accepted,) = capsys.readouterr().out.splitlines()  # one frame: the report is not one
    frame_id = accepted.split()[0]
    verdict = asyncio.run(_wait_for_verdict(runtime_config, frame_id))
    assert verdict.decision == results_pb2.DECISION_ALARM
    (dense,) = [d for r in verdict.results for d in r.detections if d.label == "dense_object"]
    (scanner,) = [r for r in verdict.results if r.plugin == "vendor_atr"]
    assert scanner.decision == results_pb2.DECISION_ALARM
    (knife,) = scanner.detections
    assert (knife.label, knife.box.x_min, knife.box.y_max) == ("prohibited_item", 2, 9)

    config_path = tmp_path / "config.json"
    config_path.write_text(runtime_config.to_json())
    out = tmp_path / "verdict-tdr.dcs"
    argv = ["--config", str(config_path), "tdr", "--frame-id", frame_id, "--out", str(out)]
    args = _parse([*argv, "--image", str(files[0]), "--image", str(files[1])])
    assert args.handler(args) == 0
    report = dicos.read_tdr(out)
    assert (report.alarm_decision, report.ooi_id, report.alarm_objects) == ("ALARM", "BAG-DENSE-1", 2)
    assert set(report.referenced_sop_instance_uids) == {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}
    (threat,) = [t for t in report.threats if t.category == "ANOMALY"]
    (theirs,) = [t for t in report.threats if t.category == "PI"]  # the scanner's knife goes back out as PI
    assert theirs.description.startswith("prohibited_item: the scanner's ATR")
    assert (threat.category, threat.ability_assessment) == ("ANOMALY", "SHIELD")
    assert threat.description.startswith("dense_object: ")
    box = dense.box
    assert threat.roi_base == (box.x_min, box.y_min, 0.0)
    assert threat.roi_extents == (box.x_max - box.x_min, box.y_max - box.y_min, 1.0)
    assert threat.bounding_polygon == (
        (box.x_min * 0.5, box.y_min * 0.5, 0.0),
        (box.x_max * 0.5, box.y_max * 0.5, 0.0),
    )

    missing = _parse([*argv[:4], "no-such-frame", "--out", str(tmp_path / "none.dcs")])
    assert missing.handler(missing) == 1
