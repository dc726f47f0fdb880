"""A site's scanners: each scanner's calibration read for its own frames (``calibrations_file``), library
entries that carry the calibration of the scanner that took them, and ``smartcustoms library add xray``."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from test_xray_calibrate import run, scanner_scans  # its scanner and command (tests/plugins is on the path)

from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.types import Modality
from smartcustoms.hardware import dicos
from smartcustoms.hardware.sim.xray import XraySimulator
from smartcustoms.plugins.xray import XrayDetectorPlugin
from smartcustoms.plugins.xray import _recognition as recognition
from smartcustoms.plugins.xray.library import (
    FULL_SCALE,
    LABELS_FILE,
    LibraryEntry,
    LibraryError,
    load_library_dir,
    write_library_dir,
)
from smartcustoms.plugins.xray.materials import Calibration
from smartcustoms.plugins.xray.plugin import SPEC
from smartcustoms.plugins.xray.scanners import Scanner, add_scanner, kvp_key, load_scanners, scanner_for
from smartcustoms.plugins.xray.tools import enrol

# a scanner unlike the simulated one: other effective energies, so other basis attenuation and limits
OTHER = {
    "organic_mu_high_per_cm": 0.36, "organic_mu_low_per_cm": 0.50, "metal_mu_high_per_cm": 4.1,
    "metal_mu_low_per_cm": 12.9, "ratio_inorganic": 1.5, "ratio_metal": 2.6,
}  # fmt: skip


def test_a_frame_is_read_with_the_first_scanner_of_its_source_and_tube_voltages(tmp_path: Path) -> None:
    path = tmp_path / "scanners.json"
    add_scanner(path, Scanner("hall-b 160/80", ("hall-b-*",), {"ratio_metal": 2.1}, "160,80"))
    add_scanner(path, Scanner("lanes", ("lane-*", "gate-?-xray"), OTHER))
    scanners = add_scanner(
        path, Scanner("hall-b again", ("hall-b-*",), {"ratio_metal": 2.2}, kvp_key("160.0, 80"))
    )
    assert [s.name for s in scanners] == ["hall-b again", "lanes"]  # same patterns and voltages: replaced
    assert load_scanners(path) == scanners
    assert scanner_for(scanners, "hall-b-3", {"kvp": "160,80.0"}).name == "hall-b again"  # type: ignore[union-attr]
    assert scanner_for(scanners, "hall-b-3", {"kvp": "140,80"}) is None
    assert scanner_for(scanners, "hall-b-3") is None
    assert scanner_for(scanners, "gate-4-xray").name == "lanes"  # type: ignore[union-attr]
    assert scanner_for(scanners, "gate-44-xray") is None
    assert kvp_key("80, 160.0") == "160,80" == kvp_key("160,80") and kvp_key("160,nan") == ""
    with pytest.raises(ValueError, match="both named 'lanes'"):  # refused before the file is written
        add_scanner(path, Scanner("lanes", ("other-*",), {}))
    assert load_scanners(path) == scanners
    for text, problem in (
        ("[1]", 'expected {"scanners": [...]}'),
        ('{"scanners": [{"sources": [], "calibration": {}}]}', "scanner 0: sources must be"),
        ('{"scanners": [{"sources": ["a"], "calibration": {"colour": 1}}]}', "scanner 0: not a calibration"),
        ('{"scanners": [{"sources": ["a"], "calibration": {}, "kvp": "high"}]}', "kvp must be tube voltages"),
        (
            '{"scanners": [{"sources": ["a"], "calibration": {"ratio_metal": "2"}}]}',
            "ratio_metal must be a finite",
        ),
        (
            '{"scanners": [{"sources": ["a"], "calibration": {"opaque_counts": 2.5}}]}',
            "opaque_counts must be",
        ),
        (
            '{"scanners": [{"name": "x", "sources": ["a"], "calibration": {}}, '
            '{"name": "x", "sources": ["b"], "calibration": {}}]}',
            "scanners 0 and 1 are both named 'x'",
        ),
        ("{", "calibrations file"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match="calibrations file") as refused:
            load_scanners(path)
        assert problem in str(refused.value)


def test_calibrate_with_a_source_adds_the_scanner_to_the_calibrations_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    air, wedge, items = scanner_scans()
    np.save(tmp_path / "air.npy", air)
    np.save(tmp_path / "wedge.npy", wedge)
    (tmp_path / "steps.json").write_text(json.dumps(items))
    scans = ["--air", str(tmp_path / "air.npy"), "--wedge", str(tmp_path / "wedge.npy")]
    scans += ["--steps", str(tmp_path / "steps.json")]
    out = tmp_path / "scanners.json"
    assert (
        run(*scans, "--out", str(out), "--source", "lane-1-*", "--source", "lane-2-*", "--kvp", "160,80") == 0
    )
    assert run(*scans, "--out", str(out), "--source", "hall-b-*", "--name", "hall B") == 0
    # the same hall at another tube voltage: a scanner of its own, with a name of its own
    assert (
        run(*scans, "--out", str(out), "--source", "lane-1-*", "--source", "lane-2-*", "--kvp", "140,70") == 0
    )
    lanes, hall, lanes_140 = load_scanners(out)
    assert (lanes.name, lanes_140.name) == ("lane-1-*,lane-2-* 160,80 kV", "lane-1-*,lane-2-* 140,70 kV")
    assert (lanes.name, lanes.sources, lanes.kvp, hall.name) == (
        "lane-1-*,lane-2-* 160,80 kV",
        ("lane-1-*", "lane-2-*"),
        "160,80",
        "hall B",
    )
    assert lanes.calibration["metal_mu_high_per_cm"] == pytest.approx(4.1, rel=2e-3)
    capsys.readouterr()
    before = out.read_text()
    assert run(*scans, "--out", str(out)) == 2  # one calibration alone would replace every scanner's
    assert "is a calibrations file of several scanners: give --source" in capsys.readouterr().err
    assert out.read_text() == before
    assert run(*scans, "--out", str(tmp_path / "alone.json"), "--kvp", "160,80") == 2
    assert "give its source ids with --source" in capsys.readouterr().err
    assert not (tmp_path / "alone.json").exists()


@pytest.fixture(scope="module")
def bag() -> np.ndarray:
    image: np.ndarray = XraySimulator(903, 512, 1024, threat_rate=1.0).generate(0).image
    return image


def test_the_plugin_reads_each_scanners_frames_with_its_calibration(
    tmp_path: Path, artefact_root: Path, xray_library: ArtefactInfo, bag: np.ndarray
) -> None:
    path = tmp_path / "scanners.json"
    add_scanner(path, Scanner("lane-9", ("lane-9-*",), {"ratio_metal": 1.9}))
    add_scanner(path, Scanner("hall 160/80", ("hall-*",), OTHER, "160,80"))
    settings = {**SPEC.default_settings, "calibrations_file": str(path), "warm_up_shape": [2, 512, 1024]}
    plugin = XrayDetectorPlugin(settings, PluginContext(SPEC.name, Role.TOOL, artefact_root=artefact_root))
    assert plugin.calibrated["lane-9"].calibration == Calibration(ratio_metal=1.9)
    assert plugin.calibrated["hall 160/80"].calibration == Calibration(**OTHER)
    assert plugin.calibrated["lane-9"].library is plugin.detector.library  # shared, not loaded again
    plugin.smartcustoms_warm_up()
    assert plugin.calibrated["hall 160/80"]._signatures  # its templates prepared before the first frame

    def view(source: str, kvp: str = "") -> object:
        frame = array_frame(bag, modality=Modality.XRAY, source_id=source, sequence=1, metadata={"kvp": kvp})
        return inline_view(frame)

    own, lane_9, hall, hall_other_tube = plugin.smartcustoms_process_batch(
        [view("lane-1-xray"), view("lane-9-xray"), view("hall-2", "160.0,80"), view("hall-2", "140,80")]
    )
    assert own == plugin.detector.assess(bag) and hall_other_tube == own  # no scanner: the plugin's own
    assert lane_9.detections and all(d.attributes["calibration"] == "lane-9" for d in lane_9.detections)
    expected = plugin.calibrated["hall 160/80"].assess(bag)
    named = tuple(
        replace(d, attributes={**d.attributes, "calibration": "hall 160/80"}) for d in expected.detections
    )
    assert hall == replace(expected, detections=named)
    assert hall != own  # another scanner's physics reads the same counts otherwise


def _as_taken_by(entry: LibraryEntry, scanner: Calibration, own: Calibration) -> np.ndarray:
    """The counts ``scanner`` records of the object ``entry`` holds (taken with ``own``): the same basis
    thicknesses, its own attenuation."""
    lines = -np.log(np.maximum(entry.image.astype(np.float64), 0.5) / FULL_SCALE)
    a = own.inverse[0, 0] * lines[0] + own.inverse[0, 1] * lines[1]
    b = own.inverse[1, 0] * lines[0] + own.inverse[1, 1] * lines[1]
    basis = np.linalg.inv(scanner.inverse)
    seen = np.stack([basis[0, 0] * a + basis[0, 1] * b, basis[1, 0] * a + basis[1, 1] * b])
    counts: np.ndarray = np.clip(np.round(FULL_SCALE * np.exp(-seen)), 0, FULL_SCALE).astype(np.uint16)
    return counts


def test_an_entry_carries_its_scanners_calibration_and_reads_as_the_object_it_is(
    tmp_path: Path, artefact_root: Path, xray_library: ArtefactInfo
) -> None:
    plugin = XrayDetectorPlugin(
        dict(SPEC.default_settings), PluginContext(SPEC.name, Role.TOOL, artefact_root=artefact_root)
    )
    detector = plugin.detector
    original = detector.library["firearm"][0]
    other = Calibration(**OTHER)
    taken = _as_taken_by(original, other, detector.calibration)
    carried = LibraryEntry("site-gun", "firearm", taken, original.pixel_size_mm, "site", dict(OTHER))
    bare = replace(carried, entry_id="site-gun-bare", calibration=None)
    assert detector.calibration_of(carried) == other and detector.calibration_of(bare) is detector.calibration
    namesake = replace(
        carried, calibration={**OTHER, "ratio_metal": 3.0}
    )  # the same id, another lane's folder
    assert (
        detector.calibration_of(namesake).ratio_metal == 3.0
        and detector.calibration_of(carried).ratio_metal == 2.6
    )
    pixel_mm = original.pixel_size_mm
    truth = recognition.prepare_signature(original, detector.calibration, pixel_mm)
    read = recognition.prepare_signature(carried, detector.calibration_of(carried), pixel_mm)
    misread = recognition.prepare_signature(bare, detector.calibration_of(bare), pixel_mm)
    # counts saturate where the gun is opaque, in either scanner, so the read is close, not exact; without
    # the scanner's calibration the entry reads as another object (measured: metal 31.7 / 28.4 cm3 against
    # 33.2, organic 490 / 625 against 458)
    for quantity in ("metal_cm3", "organic_cm3"):
        true, right, wrong = (getattr(s, quantity) for s in (truth, read, misread))
        assert right == pytest.approx(true, rel=0.1), quantity
        assert abs(right - true) < 0.5 * abs(wrong - true), quantity

    folder = write_library_dir(tmp_path / "site", [carried, bare])
    back = {e.entry_id: e for e in load_library_dir(folder)}
    assert back["site-gun"].calibration == OTHER and back["site-gun-bare"].calibration is None
    plain = write_library_dir(tmp_path / "plain", [bare])
    assert (plain / LABELS_FILE).read_text().splitlines()[0] == "file,label,pixel_size_mm,note"  # as before
    rows = list(csv.DictReader((folder / LABELS_FILE).open()))
    for cell in (
        '{"colour": 3}',
        "5",
        "[1, 2]",
        '"ab"',
        '{"ratio_metal": 1e999}',
        '{"opaque_counts": 1' + "0" * 400 + "}",
    ):
        rows[0]["calibration"] = cell
        with (folder / LABELS_FILE).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        with pytest.raises(LibraryError, match="not a calibration"):  # one line, never a traceback
            load_library_dir(folder)
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


def _enrol(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    enrol.add_parser(parser.add_subparsers(dest="artefact"))
    args = parser.parse_args(["xray", *argv])
    return int(args.handler(args))


def test_library_add_xray_cuts_each_scan_to_its_object_and_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = np.full((2, 200, 300), 0.08)  # the belt
    lines[:, 60:90, 100:180] += np.array([0.6, 1.4])[:, None, None]  # a blade
    scan = np.round(FULL_SCALE * np.exp(-lines)).astype(np.uint16)
    np.save(tmp_path / "blade.npy", scan)
    (tmp_path / "lane-1.json").write_text(json.dumps(OTHER))
    out = tmp_path / "site-library"
    argv = [
        "--label",
        "knife",
        "--out",
        str(out),
        "--pixel-size-mm",
        "0.8",
        "--calibration",
        str(tmp_path / "lane-1.json"),
    ]
    assert _enrol(str(tmp_path / "blade.npy"), *argv) == 0
    assert _enrol(str(tmp_path / "blade.npy"), *argv) == 0  # again: a second entry, not overwritten
    first, second = load_library_dir(out)
    assert (first.entry_id, second.entry_id, first.label, first.pixel_size_mm) == (
        "knife-blade",
        "knife-blade-2",
        "knife",
        0.8,
    )
    assert first.image.shape == (2, 30 + 2 * enrol.MARGIN_PX, 80 + 2 * enrol.MARGIN_PX)
    assert first.calibration == OTHER
    capsys.readouterr()

    np.save(tmp_path / "empty.npy", np.full((2, 50, 50), scan[0, 0, 0], np.uint16))
    np.save(tmp_path / "single.npy", scan[0])
    (tmp_path / "odd.json").write_text('{"colour": 1}')
    for extra, problem in (
        ([str(tmp_path / "empty.npy"), *argv], "no object stands above the belt"),
        ([str(tmp_path / "single.npy"), *argv], "a dual-energy scan is [2, height, width]"),
        ([str(tmp_path / "blade.npy"), *argv[:4]], "give the .npy scans' pixel size"),
        ([str(tmp_path / "blade.npy"), *argv[:-1], str(tmp_path / "odd.json")], "not a calibration"),
    ):
        assert _enrol(*extra) == 2
        error = capsys.readouterr().err
        assert (
            error.startswith("smartcustoms library add xray: ")
            and error.count("\n") == 1
            and problem in error
        )
    assert len(load_library_dir(out)) == 2  # nothing written by a refused call
    (tmp_path / "a-file").write_text("")
    assert _enrol(str(tmp_path / "blade.npy"), *argv[:2], "--out", str(tmp_path / "a-file"), *argv[4:]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_calibrate_reads_the_scanners_dicos_dx_files_as_it_reads_npy(tmp_path: Path) -> None:
    air, wedge, items = scanner_scans()
    (tmp_path / "steps.json").write_text(json.dumps(items))
    files: dict[str, list[str]] = {}
    for name, scan in (("air", air), ("wedge", wedge)):
        np.save(tmp_path / f"{name}.npy", scan)
        identity = dicos.Identity(study_instance_uid=pydicom.uid.generate_uid())
        files[name] = []
        for channel, kvp in ((1, 80), (0, 160)):  # in any order: the highest voltage is the high channel
            files[name].append(str(tmp_path / f"{name}-{kvp}.dcs"))
            dicos.write_dx(files[name][-1], scan[channel], identity=identity, kvp=kvp)
    steps = ["--steps", str(tmp_path / "steps.json")]
    assert (
        run("--air", *files["air"], "--wedge", *files["wedge"], *steps, "--out", str(tmp_path / "d.json"))
        == 0
    )
    npy = ["--air", str(tmp_path / "air.npy"), "--wedge", str(tmp_path / "wedge.npy")]
    assert run(*npy, *steps, "--out", str(tmp_path / "n.json")) == 0
    assert json.loads((tmp_path / "d.json").read_text()) == json.loads((tmp_path / "n.json").read_text())
    assert (
        run("--air", files["air"][0], "--wedge", *files["wedge"], *steps, "--out", str(tmp_path / "x.json"))
        == 2
    )
