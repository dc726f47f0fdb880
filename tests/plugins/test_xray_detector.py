"""The X-ray auto-detector: material kernel, the library and its artefact, detection on simulated bags,
metrics, the eval and build commands.

Simulated scans here come from seed 900, outside the library (100-199), tuning (200-299) and evaluation
(1000 and above) seeds. The ``xray-library`` artefact is built once per session into a temporary artefact
root (tests/plugins/conftest.py) and handed to the plugin through its context.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smartcustoms.core.artefacts import MANIFEST, ArtefactError, ArtefactInfo, read
from smartcustoms.core.evaluation import Evaluation, Labelled, average_precision, match
from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.geometry import iou
from smartcustoms.core.manager import discover, new_plugin_manager, register
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware.sim.xray import MATERIALS, XraySimulator, to_frame
from smartcustoms.plugins.xray import XrayDetector, XrayDetectorPlugin
from smartcustoms.plugins.xray import _recognition as recognition
from smartcustoms.plugins.xray.library import (
    BUILD_COMMAND,
    LABELS_FILE,
    LibraryEntry,
    LibraryError,
    load_library_dir,
    write_library_dir,
)
from smartcustoms.plugins.xray.materials import (
    EMPTY,
    INORGANIC,
    METAL,
    OPAQUE,
    ORGANIC,
    Calibration,
    label_components,
    material_maps,
    periodicity,
)
from smartcustoms.plugins.xray.plugin import SPEC, synthetic_bag
from smartcustoms.plugins.xray.tools import build, cli, tune

TEST_SEED = 900
IMPORT_PATH = "smartcustoms.plugins.xray:XrayDetectorPlugin"


def _context(root: Path) -> PluginContext:
    return PluginContext(SPEC.name, Role.TOOL, artefact_root=root)


@pytest.fixture(scope="session")
def plugin(artefact_root: Path, xray_library: ArtefactInfo) -> XrayDetectorPlugin:
    """The plugin built through its class with the session's artefact, as an actor builds it."""
    return XrayDetectorPlugin(dict(SPEC.default_settings), _context(artefact_root))


@pytest.fixture(scope="session")
def detector(plugin: XrayDetectorPlugin) -> XrayDetector:
    return plugin.detector


@pytest.fixture(scope="session")
def simulator() -> XraySimulator:
    return XraySimulator(TEST_SEED)


# ---------------------------------------------------------------------------------------------------
# per-pixel materials
# ---------------------------------------------------------------------------------------------------


def _slab(material: str, thickness_cm: float) -> tuple[int, int]:
    """Noise-free counts (high, low) through a slab of one simulator material (plus nothing else)."""
    m = MATERIALS[material]
    return (
        round(65535 * math.exp(-m.mu_high_per_cm * thickness_cm)),
        round(65535 * math.exp(-m.mu_low_per_cm * thickness_cm)),
    )


def _image(*columns: tuple[int, int]) -> np.ndarray:
    """A (2, 8, 8 * n) image: one 8-pixel-wide band per (high, low) pair."""
    image = np.empty((2, 8, 8 * len(columns)), dtype=np.uint16)
    for k, (high, low) in enumerate(columns):
        image[0, :, 8 * k : 8 * k + 8] = high
        image[1, :, 8 * k : 8 * k + 8] = low
    return image


def test_calibration_defaults_are_the_simulated_scanners_attenuation() -> None:
    calibration = Calibration()
    assert calibration.organic_mu_high_per_cm == pytest.approx(MATERIALS["cellulose"].mu_high_per_cm)
    assert calibration.organic_mu_low_per_cm == pytest.approx(MATERIALS["cellulose"].mu_low_per_cm)
    assert calibration.metal_mu_high_per_cm == pytest.approx(MATERIALS["steel"].mu_high_per_cm)
    assert calibration.metal_mu_low_per_cm == pytest.approx(MATERIALS["steel"].mu_low_per_cm)


@pytest.mark.parametrize(
    ("material", "thickness_cm", "expected"),
    [
        ("cellulose", 3.0, ORGANIC),
        ("water", 5.0, ORGANIC),
        ("polymer", 4.0, ORGANIC),
        ("glass", 1.0, INORGANIC),
        ("aluminium", 1.5, INORGANIC),
        ("battery", 0.5, METAL),
        ("steel", 0.3, METAL),
        ("copper", 0.2, METAL),
        ("steel", 3.0, OPAQUE),
    ],
)
def test_each_pure_material_gets_its_class(material: str, thickness_cm: float, expected: int) -> None:
    maps = material_maps(_image(_slab(material, thickness_cm)), Calibration(), 0.78)
    assert set(np.unique(maps.classes)) == {expected}


def test_air_is_empty_and_the_classes_sit_side_by_side() -> None:
    image = _image((65535, 65535), _slab("cellulose", 2.0), _slab("aluminium", 1.0), _slab("steel", 0.4))
    maps = material_maps(image, Calibration(), 0.78)
    assert [int(maps.classes[4, 8 * k + 4]) for k in range(4)] == [EMPTY, ORGANIC, INORGANIC, METAL]
    fractions = maps.class_fractions((8.0, 0.0, 32.0, 8.0))
    assert fractions["organic"] == fractions["inorganic"] == fractions["metal"] == pytest.approx(1 / 3)


def test_overlapping_materials_split_into_organic_and_metal_thickness() -> None:
    cellulose, steel = MATERIALS["cellulose"], MATERIALS["steel"]
    high = 65535 * math.exp(-(cellulose.mu_high_per_cm * 4.0 + steel.mu_high_per_cm * 0.25))
    low = 65535 * math.exp(-(cellulose.mu_low_per_cm * 4.0 + steel.mu_low_per_cm * 0.25))
    maps = material_maps(_image((round(high), round(low))), Calibration(), 0.78)
    assert maps.a_half[1, 1] == pytest.approx(4.0, abs=0.02)  # cm of cellulose under the steel
    assert maps.b_half[1, 1] == pytest.approx(0.25, abs=0.002)  # cm of steel, clothes or not


def test_material_maps_refuse_what_is_not_dual_energy_uint16() -> None:
    with pytest.raises(TypeError):
        material_maps(np.zeros((2, 16, 16), dtype=np.float32), Calibration(), 0.78)
    with pytest.raises(ValueError, match="dual-energy"):
        material_maps(np.zeros((16, 16), dtype=np.uint16), Calibration(), 0.78)


def test_periodicity_sees_rods_but_not_steps_or_lines() -> None:
    x = np.arange(400)
    rods = 0.6 * np.sqrt(np.clip(1 - (2 * ((x % 10) / 10) - 1) ** 2, 0, None))
    step = np.where(x < 200, 0.0, 3.0)
    line = np.where((x > 195) & (x < 200), 2.0, 0.0)
    signal = np.stack([rods, step, line]).repeat(4, axis=0)  # 4 rows of each
    strength = periodicity(signal, period_px=10, cap=0.5, along_px=41, across=1, step=4)
    assert strength.shape == (12, 100)
    inside = slice(10, 90)  # windows wholly inside the signal
    assert strength[0, inside].min() > 0.4  # rods: about twice their mean half-period difference
    assert np.abs(strength[4, inside]).max() < 0.07  # a step cancels (but for window-edge effects)
    assert np.abs(strength[8, inside]).max() < 0.07  # so does a thin line


def test_label_components_are_8_connected() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours: one component
    mask[4:6, 4:6] = True
    labels, count = label_components(mask)
    assert count == 2
    assert labels[0, 0] == labels[1, 1] != labels[5, 5]


# ---------------------------------------------------------------------------------------------------
# the library and its artefact
# ---------------------------------------------------------------------------------------------------


def test_the_artefact_holds_every_class_and_the_model(xray_library: ArtefactInfo) -> None:
    entries = load_library_dir(xray_library.path)
    assert {entry.label for entry in entries} == {"firearm", "knife", "cigarettes", "phone"}
    assert len(entries) == 64
    assert all(e.image.dtype == np.uint16 and e.image.shape[0] == 2 for e in entries)
    assert (xray_library.name, xray_library.version) == ("xray-library", "sim-v1")
    assert xray_library.source.startswith("simulator: 16 entries per class")
    assert "model fitted_model.json (shipped with the plugin): clutter: seed 120" in xray_library.source
    assert (xray_library.path / "model.json").read_bytes() == build.FITTED_MODEL.read_bytes()


def test_the_plugin_reports_the_artefact_it_loaded(
    plugin: XrayDetectorPlugin, xray_library: ArtefactInfo
) -> None:
    [info] = plugin.artefacts
    assert info == read(xray_library.path, expected_name="xray-library")
    assert info.content_hash == xray_library.content_hash and len(info.content_hash) == 64
    assert info.to_dict() == {"name": "xray-library", "version": "sim-v1", "content_hash": info.content_hash}


def test_a_missing_artefact_names_the_command_that_builds_it(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="build it with `smartcustoms library build xray`"):
        XrayDetectorPlugin(dict(SPEC.default_settings), _context(tmp_path))
    assert BUILD_COMMAND == "smartcustoms library build xray"


def test_an_altered_artefact_is_refused(tmp_path: Path, simulator: XraySimulator) -> None:
    folder = tmp_path / "xray-library"
    build.build_artefact(folder, [_crop(simulator, "knife", 0)], build.FITTED_MODEL, "test", "a test")
    XrayDetectorPlugin(
        {**SPEC.default_settings, "library_dir": str(folder)}, _context(tmp_path / "elsewhere")
    )
    altered = bytearray((folder / "seized-knife-0.npy").read_bytes())
    altered[-1] ^= 0xFF  # one pixel of the signature changes
    (folder / "seized-knife-0.npy").write_bytes(bytes(altered))
    with pytest.raises(ArtefactError, match=r"seized-knife-0\.npy is missing or changed since the build"):
        XrayDetectorPlugin({**SPEC.default_settings, "library_dir": str(folder)}, _context(tmp_path))


def test_an_artefact_builds_from_a_sites_folder(tmp_path: Path, simulator: XraySimulator) -> None:
    site = write_library_dir(tmp_path / "site", [_crop(simulator, "knife", 1), _crop(simulator, "phone", 2)])
    info = build.build_from_folder(tmp_path / "root" / "xray-library", site)
    assert info.version.startswith("site-")
    assert info.source.startswith(f"labelled signature images in {site}: knife 1, phone 1")
    plugin = XrayDetectorPlugin(dict(SPEC.default_settings), _context(tmp_path / "root"))
    assert plugin.detector.classes == ("knife", "phone")
    assert plugin.artefacts[0].content_hash == info.content_hash


def test_a_site_folder_with_two_entries_of_one_name_is_refused(
    tmp_path: Path, simulator: XraySimulator
) -> None:
    site = write_library_dir(tmp_path / "site", [_crop(simulator, "knife", 1)])
    (site / LABELS_FILE).write_text(
        "file,label,pixel_size_mm\nseized-knife-1.npy,knife,0.8\nseized-knife-1.npy,knife,0.8\n"
    )
    with pytest.raises(LibraryError, match="entries named alike"):
        build.build_from_folder(tmp_path / "out", site)
    assert not (tmp_path / "out").exists()


def test_the_runtime_modules_import_neither_the_simulators_nor_the_tools() -> None:
    code = (
        "import sys, smartcustoms.plugins.xray\n"
        "loaded = [m for m in sys.modules if m.startswith(('smartcustoms.hardware', 'smartcustoms.runtime',"
        " 'smartcustoms.plugins.xray.tools'))]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _crop(simulator: XraySimulator, label: str, index: int) -> LibraryEntry:
    scan = simulator.generate(index, threat=label)
    x0, y0, x1, y1 = scan.truth[0].box
    crop = np.ascontiguousarray(scan.image[:, y0 - 4 : y1 + 4, x0 - 4 : x1 + 4])
    return LibraryEntry(f"seized-{label}-{index}", label, crop, scan.pixel_size_mm, "cut from a bag")


def test_a_library_folder_round_trips(tmp_path: Path, simulator: XraySimulator) -> None:
    entry = _crop(simulator, "knife", 0)
    [loaded] = load_library_dir(write_library_dir(tmp_path / "extra", [entry]))
    assert (loaded.entry_id, loaded.label, loaded.note) == (entry.entry_id, "knife", "cut from a bag")
    assert loaded.pixel_size_mm == entry.pixel_size_mm
    assert np.array_equal(loaded.image, entry.image)


def test_a_malformed_library_folder_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / LABELS_FILE).write_text("file,label,pixel_size_mm\nmissing.npy,knife,0.8\n")
    with pytest.raises(LibraryError, match=r"labels\.csv:2: missing\.npy"):
        load_library_dir(tmp_path)
    with pytest.raises(LibraryError, match=r"no labels\.csv"):
        load_library_dir(tmp_path / "nowhere")


def test_adding_a_folder_adds_entries_and_new_classes_without_code(
    tmp_path: Path, artefact_root: Path, simulator: XraySimulator, detector: XrayDetector
) -> None:
    knife = _crop(simulator, "knife", 1)
    grenade_like = _crop(simulator, "phone", 2)  # any image: its label makes the class
    extra = write_library_dir(
        tmp_path / "extra",
        [knife, LibraryEntry("grenade-1", "grenade", grenade_like.image, grenade_like.pixel_size_mm)],
    )
    extended = XrayDetectorPlugin(
        {**SPEC.default_settings, "library_dirs": [str(extra)]}, _context(artefact_root)
    ).detector
    assert "grenade" in extended.classes and "grenade" not in detector.classes
    assert len(extended.library["knife"]) == len(detector.library["knife"]) + 1
    assert extended.threshold("grenade") == SPEC.default_settings["default_threshold"]
    scan = simulator.generate(2, threat="phone")
    candidates = extended.shape_candidates(scan.image)  # before overlaps are resolved
    assert any(c.label == "grenade" for c in candidates)  # the new class is searched like the others


# ---------------------------------------------------------------------------------------------------
# the plugin and detection
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hooks(artefact_root: Path, xray_library: ArtefactInfo) -> Any:
    """The plugin's hooks, registered through the plugin manager as the runtime does."""
    pm = new_plugin_manager()
    register(pm, IMPORT_PATH, context=_context(artefact_root))
    return pm.hook


def test_the_plugin_says_what_it_is(hooks: Any) -> None:
    info = discover(IMPORT_PATH)
    assert info.factory is XrayDetectorPlugin
    assert set(info.hooks) >= {
        "smartcustoms_plugin_spec",
        "smartcustoms_process_batch",
        "smartcustoms_warm_up",
    }
    [spec] = hooks.smartcustoms_plugin_spec()
    assert spec.name == "xray_detector"
    assert spec.consumes == frozenset({Modality.XRAY})
    assert spec.artefacts == ("xray-library",)
    assert set(spec.default_settings["thresholds"]) == {"firearm", "knife", "cigarettes", "phone"}
    assert "builtin_library" not in spec.default_settings and "cache_dir" not in spec.default_settings


def test_warm_up_prepares_the_templates_of_the_configured_shape(
    artefact_root: Path, xray_library: ArtefactInfo
) -> None:
    settings = {**SPEC.default_settings, "warm_up_shape": [2, 512, 1024], "warm_up_pixel_size_mm": 0.8}
    plugin = XrayDetectorPlugin(settings, _context(artefact_root))
    plugin.smartcustoms_warm_up()
    assert ((64, 128), 0.8) in plugin.detector._banks  # the search bank of 512 x 1024 frames at 0.8 mm


def test_the_warm_up_bag_holds_an_object_the_detector_finds(plugin: XrayDetectorPlugin) -> None:
    entry = plugin._warm_up_entry()
    assert entry is not None and entry.label != "cigarettes"
    candidates, _ = plugin.detector.candidates(synthetic_bag((2, 512, 1024), entry), pixel_size_mm=0.78125)
    assert entry.label in {c.label for c in candidates}  # so warm-up runs verification's kernels too


def test_a_bad_warm_up_shape_is_refused_at_start_up(artefact_root: Path, xray_library: ArtefactInfo) -> None:
    with pytest.raises(ValueError, match="warm_up_shape"):
        XrayDetectorPlugin({**SPEC.default_settings, "warm_up_shape": [1, 64, 64]}, _context(artefact_root))


def test_a_forced_firearm_alarms_as_a_firearm_where_it_is(hooks: Any, simulator: XraySimulator) -> None:
    scan = simulator.generate(0, threat="firearm")
    frame = inline_view(to_frame(scan, source_id="lane-1", sequence=0))
    [assessment] = hooks.smartcustoms_process_batch(frames=[frame])
    assert assessment.decision is Decision.ALARM
    best = max(assessment.detections, key=lambda d: d.score)
    assert best.label == "firearm"
    assert best.box is not None and iou(best.box, scan.truth[0].box) > 0.3
    assert best.explanation.startswith("closest library entries: firearm-")
    assert best.attributes["library_matches"].startswith("firearm-")
    metal_or_opaque = float(best.attributes["fraction_metal"]) + float(best.attributes["fraction_opaque"])
    assert metal_or_opaque > 0.1  # the low-energy beam hardly gets through a slide and a barrel


def test_a_threat_free_bag_is_clear(hooks: Any, simulator: XraySimulator) -> None:
    scan = simulator.generate(0, threat=None)
    frame = inline_view(array_frame(scan.image, modality=Modality.XRAY, source_id="lane-1", sequence=1))
    [assessment] = hooks.smartcustoms_process_batch(frames=[frame])
    assert assessment.decision is Decision.CLEAR
    assert assessment.detections == ()


def test_cigarettes_come_with_quantity_and_duty(detector: XrayDetector, simulator: XraySimulator) -> None:
    scan = simulator.generate(1, threat="cigarettes")
    assessment = detector.assess(scan.image, pixel_size_mm=scan.pixel_size_mm)
    [found] = [d for d in assessment.detections if d.label == "cigarettes"]
    assert found.box is not None and iou(found.box, scan.truth[0].box) > 0.3
    cartons, sticks = int(found.attributes["cartons"]), int(found.attributes["sticks"])
    assert cartons >= 1 and sticks == 200 * cartons
    assert float(found.attributes["duty_hkd"]) == pytest.approx(sticks * 3306 / 1000)
    assert found.attributes["duty_rate_hkd_per_1000_sticks"] == "3306"
    assert "cartons" in found.explanation and "cigarettes-" in found.explanation


@pytest.mark.parametrize("index", [126, 216])
def test_a_phone_the_search_finds_half_off_in_a_mirrored_pose_is_boxed_where_it_lies(
    detector: XrayDetector, index: int
) -> None:
    # In these two bags the search peaks half a phone's width off, in the mirrored pose (the camera pins
    # it); verification from the re-centred position finds the phone's own place.
    scan = XraySimulator(TEST_SEED, 1024, 2048, threat_rate=0.5).generate(index)
    [truth] = [t for t in scan.truth if t.label == "phone"]
    candidates, _ = detector.candidates(scan.image, pixel_size_mm=scan.pixel_size_mm)
    assert max(iou(c.box, truth.box) for c in candidates if c.label == "phone") >= 0.5


def _region(box: tuple[float, float, float, float], axis: int = 0) -> recognition.TextureRegion:
    return recognition.TextureRegion(box, 0.4, 100.0, axis)


def test_textured_pieces_of_one_row_of_cartons_merge_across_a_hidden_carton() -> None:
    settings = recognition.TextureSettings()
    pixel_mm = 0.78
    args = (settings.merge_gap_mm / pixel_mm, settings.row_gap_mm / pixel_mm, settings.row_edge_tolerance)
    left, right = _region((100, 500, 300, 640)), _region((640, 504, 900, 636))  # 340 px (26.5 cm) apart
    [merged] = recognition._merge_in_line([left, right], *args)
    assert merged.box == (100, 500, 900, 640)
    stacked = _region((100, 500, 300, 640)), _region((100, 900, 300, 1040))  # one above the other
    assert len(recognition._merge_in_line(list(stacked), *args)) == 1
    askew = _region((640, 560, 900, 720))  # half a row lower: another row
    assert len(recognition._merge_in_line([left, askew], *args)) == 2
    far = _region((1000, 500, 1200, 640))  # beyond the row gap
    assert len(recognition._merge_in_line([left, far], *args)) == 2
    across = _region((640, 504, 900, 636), axis=1)  # rods the other way
    assert len(recognition._merge_in_line([left, across], *args)) == 2


def test_single_energy_frames_are_refused(detector: XrayDetector) -> None:
    with pytest.raises(ValueError, match="dual-energy"):
        detector.assess(np.full((64, 64), 60000, dtype=np.uint16))


# ---------------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------------


def test_iou_of_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_matching_takes_each_object_once_by_score() -> None:
    truth = [Labelled("knife", (0, 0, 10, 10))]
    detections = [
        Labelled("knife", (1, 0, 11, 10), 0.6),
        Labelled("knife", (0, 0, 10, 10), 0.9),  # the better score takes the object
        Labelled("phone", (0, 0, 10, 10), 0.95),  # wrong class: a false alarm
    ]
    assert match(detections, truth, 0.5) == [False, True, False]


def test_average_precision_of_a_ranked_list() -> None:
    assert average_precision([(0.9, True), (0.8, True)], 2) == pytest.approx(1.0)
    assert average_precision([(0.9, False), (0.8, True)], 1) == pytest.approx(0.5)
    assert average_precision([(0.9, True)], 2) == pytest.approx(0.5)
    assert math.isnan(average_precision([], 0))


def test_evaluation_figures_per_class_and_per_bag() -> None:
    evaluation = Evaluation(min_iou=0.5)
    evaluation.expect(["phone"])
    knife = Labelled("knife", (0, 0, 10, 10))
    evaluation.add([knife], [Labelled("knife", (0, 0, 10, 10), 0.9)], {"knife": 0.5})
    evaluation.add([knife], [Labelled("knife", (0, 0, 10, 10), 0.3)], {"knife": 0.5})  # under threshold
    evaluation.add([], [Labelled("knife", (50, 50, 60, 60), 0.7)], {"knife": 0.5})
    evaluation.add([], [], {"knife": 0.5})
    figures = {f.label: f for f in evaluation.per_class()}
    assert (figures["knife"].objects, figures["knife"].detected, figures["knife"].false_alarms) == (2, 1, 1)
    assert figures["knife"].pd() == 0.5
    assert figures["phone"].objects == 0 and math.isnan(figures["phone"].pd())
    assert evaluation.false_alarms_per_bag() == 0.25
    assert evaluation.bag_false_alarm_rate() == 0.5
    assert figures["knife"].ap == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_tuning_spends_the_false_alarm_budget_where_it_buys_detections() -> None:
    scored = {
        # knife: its first false alarm (0.9) hides two true ones below it
        "knife": [(0.95, True), (0.9, False), (0.85, True), (0.8, True), (0.3, False)],
        # phone: a false alarm buys nothing
        "phone": [(0.99, True), (0.7, False), (0.1, False)],
    }
    admitted = tune.allocate(scored, allowed=2)
    assert admitted == {"knife": 1, "phone": 0}
    assert tune.threshold_for(scored["knife"], 1) == pytest.approx(0.3001)
    assert tune.threshold_for(scored["phone"], 0) == pytest.approx(0.7001)


# ---------------------------------------------------------------------------------------------------
# the eval and build commands
# ---------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """``smartcustoms eval`` and ``smartcustoms library build`` as runtime.tools_cli lays them out."""
    top = argparse.ArgumentParser(prog="smartcustoms")
    top.add_argument("--config")
    commands = top.add_subparsers(dest="command", required=True)
    eval_kinds = commands.add_parser("eval").add_subparsers(dest="system", required=True)
    library = commands.add_parser("library").add_subparsers(dest="action", required=True)
    cli.add_tools(eval_kinds, library.add_parser("build").add_subparsers(dest="artefact", required=True))
    return top


def _config(tmp_path: Path, artefacts_dir: Path) -> str:
    path = tmp_path / "smartcustoms.toml"
    path.write_text(f'artefacts_dir = "{artefacts_dir}"\n')
    return str(path)


def _run(*argv: str) -> int:
    args = _parser().parse_args(argv)
    code: int = args.handler(args)
    return code


def test_eval_xray_prints_every_column_on_a_tiny_set(
    tmp_path: Path, artefact_root: Path, xray_library: ArtefactInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, artefact_root)
    assert _run("--config", config, "eval", "xray", "--count", "3", "--height", "512", "--width", "1024") == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("class"))
    assert header.split() == [
        "class",
        "objects",
        "detected",
        "PD",
        "false_al",
        "FA/bag",
        "AP@0.5",
        "precision",
    ]
    rows = {line.split()[0] for line in out.splitlines()}
    assert {"firearm", "knife", "cigarettes", "phone", "all"} <= rows
    assert f"reference data: xray-library sim-v1 {xray_library.content_hash[:12]}" in out
    assert "seed 1000, 3 bags of 512x1024" in out
    assert "false alarms per bag" in out and "mAP@0.5" in out
    assert "time per frame" in out and "machine:" in out


def test_eval_xray_refuses_a_seed_that_built_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("eval", "xray", "--seed", "150", "--count", "1") == 2
    assert "not held out" in capsys.readouterr().err


def test_eval_xray_without_the_artefact_says_how_to_build_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("--config", _config(tmp_path, tmp_path / "empty"), "eval", "xray", "--count", "1") == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("smartcustoms eval xray: no artefact at ")
    assert line.endswith("build it with `smartcustoms library build xray`")


def test_library_build_xray_from_a_folder_into_the_configured_root(
    tmp_path: Path, simulator: XraySimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    site = write_library_dir(tmp_path / "site", [_crop(simulator, "firearm", 3)])
    config = _config(tmp_path, tmp_path / "root")
    assert _run("--config", config, "library", "build", "xray", "--source", str(site)) == 0
    info = read(tmp_path / "root" / "xray-library", expected_name="xray-library")
    assert f"built {info.short} in {info.path}" in capsys.readouterr().out
    assert sorted(p.name for p in info.path.iterdir()) == [
        LABELS_FILE,
        MANIFEST,
        "model.json",
        "seized-firearm-3.npy",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "nowhere"], "--source nowhere: neither 'sim' nor a folder"),
        (["--source", "."], "no labels.csv"),
        (["--source", "sim", "--model", "missing.json"], "missing.json: not a model of the X-ray detector"),
    ],
)
def test_library_build_xray_refuses_bad_input_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run("library", "build", "xray", "--out", str(tmp_path / "out"), *argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("smartcustoms library build xray: ") and message in line
    assert not (tmp_path / "out").exists()
