"""A scanner that does not flat-field its own images (dark level, a gain per detector row), frames of
non-square pixels, and calibrations chosen by the machine's own metadata."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from test_xray_calibrate import TRUE_MU, run, scanner_scans  # tests/plugins is on the path

from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.geometry import iou
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware import dicos
from smartcustoms.hardware.sim.xray import XraySimulator
from smartcustoms.plugins.xray import XrayDetectorPlugin
from smartcustoms.plugins.xray.library import load_library_dir
from smartcustoms.plugins.xray.materials import (
    Calibration,
    checked_calibration,
    flat_field,
    pixel_spacing,
    square_pixels,
)
from smartcustoms.plugins.xray.plugin import SPEC
from smartcustoms.plugins.xray.scanners import Scanner, add_scanner, load_scanners, scanner_for
from smartcustoms.plugins.xray.tools import enrol
from smartcustoms.plugins.xray.tools.enrol import object_crop

DARK = (180.0, 240.0)  # counts with the beam off, per channel


def raw(image: np.ndarray, gain: np.ndarray, rng: np.random.Generator, noise: float = 3.0) -> np.ndarray:
    """What a scanner without its own flat-field records of ``image``: each row's gain, the dark level
    and the dark noise added."""
    counts = image.astype(np.float64) * gain[:, :, None] + np.array(DARK)[:, None, None]
    counts += noise * rng.standard_normal(counts.shape)
    out: np.ndarray = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
    return out


def row_gains(rows: int, seed: int, sd: float = 0.04) -> np.ndarray:
    """Each detector row's gain per channel, at most 1 so that the open beam does not saturate."""
    return np.clip(np.random.default_rng(seed).normal(0.9, sd, (2, rows)), 0.7, 1.0)


def written(tmp_path: Path, name: str, scan: np.ndarray) -> str:
    path = tmp_path / f"{name}.npy"
    np.save(path, scan)
    return str(path)


def test_calibrate_measures_the_dark_level_the_gain_map_and_the_opaque_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    air, wedge, items = scanner_scans(noise=0.002)
    rng, gain = np.random.default_rng(5), row_gains(air.shape[1], 11)
    (tmp_path / "steps.json").write_text(json.dumps(items))
    scans = [
        "--wedge",
        written(tmp_path, "wedge", raw(wedge, gain, rng)),
        "--steps",
        str(tmp_path / "steps.json"),
    ]
    airs = [
        "--air",
        written(tmp_path, "air-1", raw(air, gain, rng)),
        "--air",
        written(tmp_path, "air-2", raw(air, gain, rng)),
    ]
    dark = ["--dark", written(tmp_path, "dark", raw(np.zeros_like(air), gain, rng, noise=6.0))]

    assert run(*airs, *scans, *dark, "--out", str(tmp_path / "c.json")) == 0
    assert "gain map: kept: 2 air scans agree" in capsys.readouterr().out
    values = json.loads((tmp_path / "c.json").read_text())
    calibration = checked_calibration(values)
    assert (calibration.dark_high, calibration.dark_low) == pytest.approx(DARK, abs=0.5)
    assert calibration.opaque_counts == pytest.approx(30, abs=1)  # 5 sd of the dark scan's 6 counts
    assert np.array(calibration.gain_high) == pytest.approx(gain[0] / gain[0].mean(), abs=2e-3)
    assert np.array(calibration.gain_low) == pytest.approx(gain[1] / gain[1].mean(), abs=2e-3)
    assert calibration.metal_mu_high_per_cm == pytest.approx(TRUE_MU["iron"][0], rel=0.02)
    assert calibration.metal_mu_low_per_cm == pytest.approx(TRUE_MU["iron"][1], rel=0.02)

    # the same scans without the dark scan: the dark counts read as transmission, iron comes out light
    assert run(*airs, *scans, "--out", str(tmp_path / "no-dark.json")) == 0
    no_dark = json.loads((tmp_path / "no-dark.json").read_text())
    assert no_dark["metal_mu_low_per_cm"] < 0.95 * TRUE_MU["iron"][1]  # 7 % low
    assert "opaque_counts" not in no_dark and "dark_high" not in no_dark

    assert run(*airs, *scans, *dark, "--no-gain-map", "--out", str(tmp_path / "flat.json")) == 0
    assert "gain_high" not in json.loads((tmp_path / "flat.json").read_text())
    assert "left out (--no-gain-map)" in capsys.readouterr().out


def test_a_gain_map_that_does_not_repeat_or_that_noise_explains_is_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    air, wedge, items = scanner_scans(noise=0.002)
    rng = np.random.default_rng(6)
    (tmp_path / "steps.json").write_text(json.dumps(items))
    scans = ["--wedge", written(tmp_path, "wedge", wedge), "--steps", str(tmp_path / "steps.json")]
    # a scanner that flat-fields its images, leaving a residual of its own in each: no gain repeats
    residuals = [raw(air, row_gains(air.shape[1], seed, sd=0.01), rng, noise=0.0) for seed in (1, 2)]
    airs = ["--air", written(tmp_path, "a1", residuals[0]), "--air", written(tmp_path, "a2", residuals[1])]
    assert run(*airs, *scans, "--out", str(tmp_path / "c.json")) == 0
    assert "do not repeat" in capsys.readouterr().out
    assert "gain_high" not in json.loads((tmp_path / "c.json").read_text())
    # one air scan whose rows differ by photon noise only
    assert run("--air", written(tmp_path, "air", air), *scans, "--out", str(tmp_path / "d.json")) == 0
    assert "no more than photon noise explains" in capsys.readouterr().out
    assert "gain_high" not in json.loads((tmp_path / "d.json").read_text())
    # one air scan cannot tell a flat-field's residual from a gain map: left out unless asked for
    assert run("--air", airs[1], *scans, "--out", str(tmp_path / "e.json")) == 0
    assert "one air scan cannot tell" in capsys.readouterr().out
    assert "gain_high" not in json.loads((tmp_path / "e.json").read_text())
    gained = raw(air, row_gains(air.shape[1], 3), rng, noise=0.0)
    one = ["--air", written(tmp_path, "g", gained), *scans, "--gain-map"]
    assert run(*one, "--out", str(tmp_path / "f.json")) == 0
    assert "kept from one air scan, as --gain-map asks" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "f.json").read_text())["gain_high"]) == air.shape[1]


def test_flat_field_undoes_the_dark_level_and_gain_and_refuses_a_map_of_other_rows() -> None:
    image = XraySimulator(904, 128, 256, threat_rate=1.0).generate(0).image
    gain = row_gains(128, 12)
    calibration = Calibration(
        dark_high=DARK[0], dark_low=DARK[1], gain_high=tuple(gain[0]), gain_low=tuple(gain[1])
    )
    corrected = flat_field(raw(image, gain, np.random.default_rng(1), noise=0.0), calibration)
    assert corrected.dtype == np.uint16
    assert np.abs(corrected.astype(np.int64) - image).max() <= 1  # rounding only
    assert flat_field(image, Calibration()) is image  # a flat-fielding scanner's frames pass as they are
    with pytest.raises(ValueError, match="gain map has 128 rows, the image 64"):
        flat_field(image[:, :64], calibration)
    for bad, problem in (
        ({"gain_high": [1.0, -1.0], "gain_low": [1.0, 1.0]}, "gain_high must be a list of positive"),
        ({"gain_high": [1.0, 1.0], "gain_low": [1.0]}, "a gain per row each"),
        ({"gain_low": "1,1"}, "gain_low must be a list"),
        ({"dark_high": float("nan")}, "dark_high must be a finite number"),
        ({"gain_high": [10**400], "gain_low": [1.0]}, "gain_high must be a list of positive"),
    ):
        with pytest.raises(ValueError, match=problem):
            checked_calibration(bad)


def test_pixel_spacing_metadata_and_resampling_to_square_pixels() -> None:
    assert pixel_spacing("0.8,1.2") == (0.8, 1.2) and pixel_spacing("0.5") == (0.5, 0.5)
    for bad in ("", "a,b", "0,1", "1,2,3", "nan,1", "-1,1"):
        assert pixel_spacing(bad) is None, bad
    image = np.arange(2 * 10 * 20, dtype=np.uint16).reshape(2, 10, 20)
    assert square_pixels(image, (0.8, 0.801)) == (image, pytest.approx(0.8005, rel=1e-3))
    wide, pixel_mm = square_pixels(image, (1.2, 0.6))  # rows 1.2 mm apart: twice as many rows
    assert wide.shape == (2, 20, 20) and wide.dtype == np.uint16 and pixel_mm == 0.6


@pytest.fixture(scope="module")
def bag() -> np.ndarray:
    image: np.ndarray = XraySimulator(903, 512, 1024, threat_rate=1.0).generate(0).image
    return image


def _plugin(artefact_root: Path, **settings: object) -> XrayDetectorPlugin:
    merged = {**SPEC.default_settings, "warm_up_shape": [2, 512, 1024], **settings}
    return XrayDetectorPlugin(merged, PluginContext(SPEC.name, Role.TOOL, artefact_root=artefact_root))


def _view(image: np.ndarray, source: str = "lane-1", **metadata: str) -> object:
    frame = array_frame(image, modality=Modality.XRAY, source_id=source, sequence=1, metadata=metadata)
    return inline_view(frame)


def test_a_frame_of_non_square_pixels_is_read_resampled_and_its_boxes_are_its_own(
    artefact_root: Path, xray_library: ArtefactInfo, bag: np.ndarray
) -> None:
    import cv2

    plugin = _plugin(artefact_root)
    (square,) = plugin.smartcustoms_process_batch([_view(bag, pixel_size_mm="1.5625")])
    assert square.decision is Decision.ALARM
    # the same bag from a scanner whose columns lie 1.5 times further apart
    columns = round(bag.shape[2] / 1.5)
    squeezed = np.stack([cv2.resize(p, (columns, bag.shape[1]), interpolation=cv2.INTER_AREA) for p in bag])
    (read,) = plugin.smartcustoms_process_batch(
        [_view(squeezed, pixel_spacing_mm="1.5625,2.34375", pixel_size_mm="1.9137")]
    )
    assert {d.label for d in read.detections} == {d.label for d in square.detections}
    for found in read.detections:
        assert found.box is not None and found.box[2] <= columns  # on the frame's own pixels
        on_bag = (found.box[0] * 1.5, found.box[1], found.box[2] * 1.5, found.box[3])
        assert max(iou(on_bag, d.box) for d in square.detections if d.box and d.label == found.label) > 0.8
    # read as square pixels of the same area instead, the stretched object matches nothing
    (unresampled,) = plugin.smartcustoms_process_batch([_view(squeezed, pixel_size_mm="1.9137")])
    assert unresampled.decision is Decision.CLEAR
    # the evaluation's path: candidates on the frame's own pixels, maps of the image as read
    detector = plugin.detector
    candidates, maps = detector.candidates(squeezed, pixel_size_mm=1.9137, pixel_spacing_mm=(1.5625, 2.34375))
    assert maps.pixel_size_mm == pytest.approx(1.5625, rel=1e-4) and maps.classes.shape == bag.shape[1:]
    best = max(candidates, key=lambda c: c.score)
    assert best.box == pytest.approx(read.detections[0].box)
    # square pixels: a pixel size given stands (a site's correction), the spacing only says square
    _, given = detector.candidates(bag, pixel_size_mm=1.5, pixel_spacing_mm=(1.5625, 1.5625))
    assert given.pixel_size_mm == 1.5


def test_a_scanners_gain_map_is_divided_out_of_its_frames(
    tmp_path: Path, artefact_root: Path, xray_library: ArtefactInfo, bag: np.ndarray
) -> None:
    gain = row_gains(bag.shape[1], 13, sd=0.08)
    values = {
        "dark_high": DARK[0],
        "dark_low": DARK[1],
        "gain_high": list(gain[0]),
        "gain_low": list(gain[1]),
    }
    add_scanner(tmp_path / "scanners.json", Scanner("raw lane", ("raw-*",), values))
    plugin = _plugin(
        artefact_root, calibrations_file=str(tmp_path / "scanners.json"), warm_up_shape=[2, 256, 512]
    )
    plugin.smartcustoms_warm_up()  # the scanner's detector warms up on frames of its gain map's height
    assert plugin.calibrated["raw lane"]._signatures
    recorded = raw(bag, gain, np.random.default_rng(2), noise=0.0)
    own, corrected = plugin.smartcustoms_process_batch([_view(bag), _view(recorded, "raw-1")])
    assert corrected.decision is own.decision is Decision.ALARM
    assert [(d.label, d.box) for d in corrected.detections] == [(d.label, d.box) for d in own.detections]
    assert all(d.attributes["calibration"] == "raw lane" for d in corrected.detections)
    # the map as calibrate writes it (mean 1 per channel): the levels a little higher, the same findings
    normalised = {
        **values,
        "gain_high": list(gain[0] / gain[0].mean()),
        "gain_low": list(gain[1] / gain[1].mean()),
    }
    add_scanner(tmp_path / "scanners.json", Scanner("raw lane", ("raw-*",), normalised))
    again_plugin = _plugin(artefact_root, calibrations_file=str(tmp_path / "scanners.json"))
    (levelled,) = again_plugin.smartcustoms_process_batch([_view(recorded, "raw-1")])
    assert [d.label for d in levelled.detections] == [d.label for d in own.detections]
    assert all(iou(a.box, b.box) > 0.9 for a, b in zip(levelled.detections, own.detections, strict=True))
    # a scanner without a dark level or gain map does not take the calibration setting's
    add_scanner(tmp_path / "flat.json", Scanner("flat lane", ("flat-*",), {"ratio_metal": 2.3}))
    mixed = _plugin(artefact_root, calibrations_file=str(tmp_path / "flat.json"), calibration=values)
    assert mixed.detector.calibration.flat_fields
    assert not mixed.calibrated["flat lane"].calibration.flat_fields
    # a frame of another height than the scanner's gain map: that frame to an officer, saying why
    short, again = plugin.smartcustoms_process_batch([_view(recorded[:, :256], "raw-1"), _view(bag)])
    assert short.decision is Decision.MANUAL_INSPECTION and again == own
    (why,) = short.detections
    assert why.label == "calibration_mismatch" and "scanner raw lane" in why.explanation
    assert "gain map has 512 rows, the image 256" in why.explanation


def test_a_calibration_is_chosen_by_the_machines_own_metadata(tmp_path: Path) -> None:
    path = tmp_path / "scanners.json"
    add_scanner(path, Scanner("", ("*",), {"ratio_metal": 2.0}, device={"serial_number": "SN-00?"}))
    add_scanner(path, Scanner("acme", ("*",), {"ratio_metal": 2.1}, device={"manufacturer": "Acme*"}))
    scanners = load_scanners(path)
    assert [s.name for s in scanners] == ["* SN-00?", "acme"]
    assert scanner_for(scanners, "lane-1", {"serial_number": "SN-007"}) == scanners[0]
    assert (
        scanner_for(scanners, "lane-1", {"manufacturer": "Acme Corp", "serial_number": "SN-10"})
        == scanners[1]
    )
    assert scanner_for(scanners, "lane-1", {"manufacturer": "Other"}) is None
    assert scanner_for(scanners, "lane-1") is None  # a frame that names no machine
    assert json.loads(path.read_text())["scanners"][0]["device"] == {"serial_number": "SN-00?"}
    path.write_text(
        json.dumps({"scanners": [{"sources": ["*"], "calibration": {}, "device": {"colour": "x"}}]})
    )
    with pytest.raises(ValueError, match="device must be an object of manufacturer, model, serial_number"):
        load_scanners(path)

    # DICOS files say which machine took them, and calibrate writes the scanner that picks its frames
    identity = dicos.Identity(
        study_instance_uid=pydicom.uid.generate_uid(),
        manufacturer="Acme",
        model="DV-9",
        serial_number="SN-42",
    )
    image = XraySimulator(905, 64, 128).generate(0).image
    for channel, kvp in ((0, 160), (1, 80)):
        dicos.write_dx(tmp_path / f"scan-{kvp}.dcs", image[channel], identity=identity, kvp=kvp)
    (frame,) = dicos.read_frames([tmp_path / "scan-160.dcs", tmp_path / "scan-80.dcs"], source_id="lane-3")
    assert (frame.metadata["manufacturer"], frame.metadata["model"], frame.metadata["serial_number"]) == (
        "Acme",
        "DV-9",
        "SN-42",
    )
    air, wedge, items = scanner_scans()
    (tmp_path / "steps.json").write_text(json.dumps(items))
    scans = ["--air", written(tmp_path, "air", air), "--wedge", written(tmp_path, "wedge", wedge)]
    out = tmp_path / "site.json"
    argv = [*scans, "--steps", str(tmp_path / "steps.json"), "--out", str(out), "--source", "*"]
    assert run(*argv, "--serial-number", "SN-42", "--model", "DV-*") == 0
    (scanner,) = load_scanners(out)
    assert scanner.name == "* DV-* SN-42" and scanner_for([scanner], "lane-3", frame.metadata) == scanner
    assert run(*argv, "--serial-number", "SN-42", "--model", "DV-*", "--name", "again") == 0
    assert [s.name for s in load_scanners(out)] == ["again"]  # the same machine: calibrated again


def test_enrolment_flat_fields_the_scans_and_keeps_the_rest_of_the_calibration(tmp_path: Path) -> None:
    image = np.full((2, 96, 160), 60000, np.uint16)
    image[:, 30:60, 40:120] = 20000  # an object on the belt
    gain = row_gains(96, 14)
    calibration = {"ratio_metal": 2.2, "dark_high": DARK[0], "dark_low": DARK[1]}
    calibration |= {"gain_high": list(gain[0]), "gain_low": list(gain[1])}
    (tmp_path / "cal.json").write_text(json.dumps(calibration))
    scan = written(tmp_path, "knife", raw(image, gain, np.random.default_rng(3), noise=0.0))
    ((_, read, _),) = enrol.read_scans([scan], 0.8, checked_calibration(calibration))
    assert np.abs(read.astype(np.int64) - image).max() <= 1
    parser = argparse.ArgumentParser()
    enrol.add_parser(parser.add_subparsers(dest="target"))
    argv = ["xray", "--label", "knife", "--out", str(tmp_path / "lib"), scan, "--pixel-size-mm", "0.8"]
    args = parser.parse_args([*argv, "--calibration", str(tmp_path / "cal.json")])
    assert args.handler(args) == 0
    (entry,) = load_library_dir(tmp_path / "lib")
    assert entry.calibration == {"ratio_metal": 2.2}  # the scan flat-fielded: the rest of it kept
    assert np.abs(entry.image.astype(np.int64) - object_crop(image, "knife")).max() <= 1
