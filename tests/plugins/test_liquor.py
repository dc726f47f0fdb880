"""liquor_label: reading ABV and volume, the descriptor index, the confidence model, the liquor-labels
artefact (built from a few simulator products, extended from photos, missing), recognition of simulated
bottles, the plugin's detection contract and decisions, warm-up, no download at run time, the runtime's
imports, and the commands on tiny sets."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from smartcustoms.core import artefacts, duty
from smartcustoms.core.artefacts import ArtefactError, ArtefactInfo
from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.manager import DEFAULT_PLUGINS
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware.sim import _frames
from smartcustoms.hardware.sim import liquor as liquor_sim
from smartcustoms.plugins.liquor import calibration
from smartcustoms.plugins.liquor.calibration import FEATURES, Calibration, Evidence, fit
from smartcustoms.plugins.liquor.index import NO_MATCH, DescriptorIndex
from smartcustoms.plugins.liquor.library import BUILD_COMMAND, LibraryError, load_library, write_library
from smartcustoms.plugins.liquor.plugin import SPEC, LiquorLabelPlugin
from smartcustoms.plugins.liquor.reading import LabelReader, parse_abv, parse_volume_ml, reading_of
from smartcustoms.plugins.liquor.recogniser import REFERRALS, Recognition, closest_volume
from smartcustoms.plugins.liquor.tools import add, build, cli, evaluate
from smartcustoms.plugins.liquor.verify import frame_grey

IMPORT_PATH = "smartcustoms.plugins.liquor:LiquorLabelPlugin"
PRODUCTS = ("LQ-0001", "LQ-0009", "LQ-0010", "LQ-0011")  # Nordvik 750 ml and 1.75 l: one line
ADDED = "LQ-0021"  # Barossa Ridge Shiraz, added from photos
SEED = 41  # neither a development (100-199), calibration (300-309) nor evaluation seed (2000 on)
SHAPE = (720, 960)


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A liquor-labels artefact of four products (three lines), no calibration frames: a few seconds."""
    out = tmp_path_factory.mktemp("liquor") / "liquor-labels"
    build.build(out, catalogue_ids=PRODUCTS, calibration_seeds=())
    return out


@pytest.fixture(scope="module")
def plugin(library_dir: Path) -> LiquorLabelPlugin:
    settings = {**SPEC.default_settings, "library_dir": str(library_dir), "read_labels": "always"}
    made = LiquorLabelPlugin(settings, PluginContext(SPEC.name))
    made.smartcustoms_warm_up()
    return made


def camera_frame(image: np.ndarray, role: str = "red_channel", traveller: str = "T-1") -> FrameView:
    metadata = {"camera_role": role, "traveller_id": traveller}
    frame = _frames.payload_frame(
        liquor_sim.encode(image, "jpeg", quality=92),
        modality=Modality.CAMERA,
        source_id="red-channel-test",
        sequence=1,
        encoding="jpeg",
        shape=image.shape,
        metadata=metadata,
    )
    return inline_view(frame)


def clean_shot(catalogue_id: str, index: int = 0, seed: int = SEED) -> liquor_sim.LiquorFrame:
    """A frame of ``catalogue_id`` without a hand or sticker, blur or a hard turn."""
    simulator = liquor_sim.LiquorSimulator(seed, *SHAPE, catalogue_ids=(catalogue_id,))
    while True:
        shot = simulator.generate(index)
        if not shot.occlusion and shot.blur_px < 1.5 and abs(shot.turn_deg) < 15:
            return shot
        index += 1


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("text", "abv", "volume_ml"),
    [
        ("43% vol 700 mL", 43.0, 700),
        ("ALC.43%V0L.", 43.0, None),
        ("ALC. 40% VOL.", 40.0, None),
        ("12.5%vol", 12.5, None),
        ("5.4%alc/vol500mL", 5.4, 500),
        ("70cl", None, 700),
        ("75el", None, 750),  # the recogniser reads a small c as e
        ("13.5%Vel", 13.5, None),  # ... and a small o
        ("75ELEGANT", None, None),  # a word after the digits, not a unit
        ("7Oel", None, 700),  # both slips at once
        ("750el", None, None),  # no bottle holds 750 cl: "750 ml" misread, unread rather than 7.5 l
        ("ALC.40%VOL.75el", 40.0, 750),  # after a point that follows no digit
        ("37.5el", None, 375),  # a half bottle
        ("1.75 L", None, 1750),
        ("1 litre", None, 1000),
        ("640m", None, 640),  # "mL" with its L cut off
        ("1.75li", None, 1750),  # "litre" cut at the edge of the text
        ("ALC.40%VOL.1.75LIT", 40.0, 1750),
        ("75 LIGHT", None, None),  # a word, not a unit cut short
        ("HK$199", None, None),
        (".75L", None, None),  # the 1 of 1.75 L cut off: 75 litres is no bottle
    ],
)
def test_abv_and_volume_are_parsed_as_labels_print_them(
    text: str, abv: float | None, volume_ml: int | None
) -> None:
    assert parse_abv(text) == abv
    assert parse_volume_ml(text) == volume_ml


def test_a_reading_keeps_the_surest_line_and_drops_unsure_ones() -> None:
    reading = reading_of([("40% vol", 0.7), ("48% vol", 0.95), ("700ml", 0.3)])
    assert (reading.abv_percent, reading.volume_ml) == (48.0, None)


def test_digits_read_pick_the_bottle_of_a_line() -> None:
    library = [build.product_of(liquor_sim.product(cid)) for cid in ("LQ-0009", "LQ-0010")]
    nordvik_750, nordvik_1750 = library
    assert closest_volume(library, ["173L"]) == (nordvik_1750, 1)
    assert closest_volume(library, ["40%alc/vol", "75c"]) == (nordvik_750, 0)  # 75 cl, the unit half read
    assert closest_volume(library, ["40%"]) is None


# --------------------------------------------------------------------------- index and calibration


def test_the_index_finds_near_descriptors_and_the_nearest_of_another_group() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    groups = np.repeat(np.arange(30, dtype=np.int32), 100)
    query = train[:200].copy()
    flips = rng.random((200, 256)) < 0.06  # ~15 bits of 256
    query ^= np.packbits(flips, axis=1, bitorder="little")
    query[100] = train[150]  # an exact copy of a descriptor of group 1
    index = DescriptorIndex(train, groups)
    found = index.match(query)
    assert (found.index[:100] == np.arange(100)).mean() > 0.95
    assert found.distance[100] == 0 and groups[found.index[100]] == 1
    assert np.all((found.other_distance > found.distance) | (found.index < 0))
    random = index.match(rng.integers(0, 256, (200, 32), dtype=np.uint8))
    assert np.all((random.distance > 60) | (random.distance == NO_MATCH))  # unrelated: far or unseen
    with pytest.raises(ValueError):
        index.match(np.zeros((3, 16), np.uint8))


def test_calibration_fits_a_monotone_model_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    evidence, correct = [], []
    for _ in range(400):
        top, second = int(rng.integers(4, 120)), int(rng.integers(0, 30))
        ambiguous = bool(rng.random() < 0.2)
        p = 1 / (1 + np.exp(-(0.12 * (top - second) - 2 - 3 * ambiguous)))
        evidence.append(Evidence(top, second, ambiguous=ambiguous))
        correct.append(bool(rng.random() < p))
    fitted = fit(evidence, correct, fitted_on="test")
    weight = dict(zip(FEATURES, fitted.weights, strict=True))
    assert weight["top"] > 0 and weight["second"] < 0 and weight["ambiguous"] < 0
    assert (
        fitted.confidence(Evidence(100, 0))
        > fitted.confidence(Evidence(20, 0))
        > fitted.confidence(Evidence(20, 18))
    )
    assert Calibration.from_json(json.loads(json.dumps(fitted.to_json()))) == fitted
    with pytest.raises(ValueError):
        fit(evidence[:30], [True] * 30, fitted_on="one class")


def test_calibration_holds_each_weight_on_its_side() -> None:
    # a sample where the frames whose reading disagreed happen to be right more often (a few frames,
    # all the wrong ones among the others) and a rival line's inliers happen to come with right matches
    rng = np.random.default_rng(2)
    evidence, correct = [], []
    for _ in range(300):
        top, second = int(rng.integers(4, 120)), int(rng.integers(0, 30))
        disagree = int(rng.random() < 0.1)
        p = 1 / (1 + np.exp(-(0.08 * top + 0.05 * second - 2 + 3 * disagree)))
        evidence.append(Evidence(top, second, ocr_disagree=disagree))
        correct.append(bool(rng.random() < p))
    x = np.column_stack([[e.vector() for e in evidence], np.ones(len(evidence))])
    labels = np.asarray(correct, float)
    unheld = calibration._logistic(x, labels, np.array([0.1] * 6 + [0.0]))
    weight = dict(zip(FEATURES, unheld[:-1], strict=True))
    assert weight["ocr_disagree"] > 0.5 and weight["second"] > 0  # what an unheld fit makes of it
    fitted = fit(evidence, correct, fitted_on="test")
    held = dict(zip(FEATURES, fitted.weights, strict=True))
    assert held["ocr_disagree"] == 0 and held["second"] == 0 and held["top"] > 0
    # the others fitted again without the two, not merely the two set to 0
    rest = [FEATURES.index(name) for name in FEATURES if name not in ("second", "ocr_disagree")] + [6]
    refit = calibration._logistic(x[:, rest], labels, np.array([0.1] * (len(rest) - 1) + [0.0]))
    assert np.allclose([*fitted.weights, fitted.bias], np.insert(refit, [1, 3], 0.0))  # second, disagree
    assert not np.isclose(held["top"], weight["top"])


def test_a_confidence_model_fitted_before_the_dense_check_still_loads() -> None:
    old = {
        "model": "platt",
        "features": ["top", "second", "ocr_agree", "ocr_disagree", "ambiguous"],
        "weights": [1.0, -1.0, 0.5, -2.0, -3.0],
        "bias": -4.0,
    }
    loaded = Calibration.from_json(old)
    assert dict(zip(FEATURES, loaded.weights, strict=True)) == {
        "top": 1.0, "second": -1.0, "dense": 0.0, "ocr_agree": 0.5, "ocr_disagree": -2.0, "ambiguous": -3.0
    }  # fmt: skip
    with pytest.raises(ValueError):
        Calibration.from_json({**old, "features": ["top", "second"]})


# --------------------------------------------------------------------------- artefact


def test_the_artefact_holds_lines_views_and_text_boxes(library_dir: Path) -> None:
    library = load_library(library_dir)
    assert [p.catalogue_id for p in library.products] == list(PRODUCTS)
    assert len(library.lines) == 3 and len(library.views) == 9  # three turns of each line's artwork
    assert [p.volume_ml for p in library.line_products("nordvik|vodka")] == [750, 1750]
    kinds = {box.kind for view in library.views for box in view.text}
    assert kinds == {"abv", "volume"}  # found by OCR on the artwork
    assert library.info.version == "sim-v1" and library.calibration.fitted_on.startswith("prior")


def test_a_missing_or_altered_artefact_names_the_build(library_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match=BUILD_COMMAND):
        load_library(tmp_path / "nothing")
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(library_dir), str(copy)], check=True)
    (copy / "catalogue.json").write_text("{}")
    with pytest.raises(ArtefactError, match="changed since the build"):
        load_library(copy)
    with pytest.raises(LibraryError, match="not a label database"):
        load_library(copy, verify=False)


# --------------------------------------------------------------------------- recognition and contract


@pytest.mark.parametrize("catalogue_id", PRODUCTS)
def test_bottles_are_recognised_with_their_facts_and_duty(
    plugin: LiquorLabelPlugin, catalogue_id: str
) -> None:
    shot = clean_shot(catalogue_id)
    [assessment] = plugin.smartcustoms_process_batch([camera_frame(shot.image, traveller="T-7")])
    [detection] = assessment.detections
    a = detection.attributes
    assert detection.label == "liquor_bottle" and a["catalogue_id"] == catalogue_id
    item = liquor_sim.product(catalogue_id)
    assert (a["brand"], a["product"], a["category"]) == (item.brand, item.product, item.category)
    assert float(a["abv_percent"]) == item.abv_percent and int(a["volume_ml"]) == item.volume_ml
    expected = duty.bottle_duty(
        duty.LiquorItem.of(item.abv_percent, item.volume_ml, item.reference_price_hkd)
    )
    assert Decimal(a["duty_hkd"]) == expected.duty_hkd and a["duty_hkd"] == str(expected.duty_hkd)
    assert a["traveller_id"] == "T-7" and a.get("ocr_volume_ml") == str(item.volume_ml)
    candidates = json.loads(a["candidates"])
    assert candidates[0] == {"catalogue_id": catalogue_id, "confidence": round(detection.score, 4)}
    assert 1 <= len(candidates) <= 3 and sum(c["confidence"] for c in candidates) <= 1.0001
    x0, y0, x1, y1 = detection.box or (0, 0, 0, 0)
    bx0, by0, bx1, by1 = shot.label_box
    assert x0 < bx1 and bx0 < x1 and y0 < by1 and by0 < y1  # the box is on the label
    assert (assessment.decision == Decision.MANUAL_INSPECTION) == (a.get("needs_officer") == "1")


def test_the_printed_volume_tells_the_bottles_of_a_line_apart(plugin: LiquorLabelPlugin) -> None:
    for catalogue_id in ("LQ-0009", "LQ-0010"):
        shot = clean_shot(catalogue_id, index=5)
        [assessment] = plugin.smartcustoms_process_batch([camera_frame(shot.image)])
        attributes = assessment.detections[0].attributes
        assert attributes["catalogue_id"] == catalogue_id, attributes


def test_a_label_that_disagrees_with_the_database_goes_to_an_officer(
    library_dir: Path, tmp_path: Path
) -> None:
    """A database entry with the wrong ABV: the label read says otherwise, so an officer decides."""
    library = load_library(library_dir)
    products = [p if p.catalogue_id != "LQ-0011" else replace(p, abv_percent=47.0) for p in library.products]
    views = add.existing_views(library)
    wrong = tmp_path / "wrong"
    artefacts.build(
        wrong, name="liquor-labels", version="wrong-abv", source="test",
        write=lambda staging: write_library(staging, products, views, library.calibration),
    )  # fmt: skip
    settings = {**SPEC.default_settings, "library_dir": str(wrong), "read_labels": "always"}
    plugin = LiquorLabelPlugin(settings, PluginContext(SPEC.name))
    [assessment] = plugin.smartcustoms_process_batch([camera_frame(clean_shot("LQ-0011").image)])
    attributes = assessment.detections[0].attributes
    assert assessment.decision == Decision.MANUAL_INSPECTION
    assert attributes["needs_officer"] == "1" and attributes["ocr_abv_percent"] == "43"
    assert "the label reads 43% vol" in attributes["needs_officer_reason"]
    assert attributes["needs_officer_referral"] == "reading_disagrees"


def test_no_label_and_low_confidence_go_to_an_officer(library_dir: Path, plugin: LiquorLabelPlugin) -> None:
    blank = np.full((*SHAPE, 3), 90, np.uint8)
    [assessment] = plugin.smartcustoms_process_batch([camera_frame(blank)])
    [detection] = assessment.detections
    assert assessment.decision == Decision.MANUAL_INSPECTION and detection.score == 0.0
    assert detection.attributes["needs_officer_reason"] == "no label of the database matched"
    assert detection.attributes["needs_officer_referral"] == "no_label"
    assert json.loads(detection.attributes["candidates"]) == []
    strict = {**SPEC.default_settings, "library_dir": str(library_dir), "min_confidence": 0.999999}
    picky = LiquorLabelPlugin(strict, PluginContext(SPEC.name))
    [unsure] = picky.smartcustoms_process_batch([camera_frame(clean_shot("LQ-0001").image)])
    assert unsure.decision == Decision.MANUAL_INSPECTION
    assert unsure.detections[0].attributes["needs_officer_reason"].startswith("confidence")
    assert unsure.detections[0].attributes["needs_officer_referral"] == "low_confidence"


def test_the_dense_check_tells_the_label_shown_from_another(plugin: LiquorLabelPlugin) -> None:
    shot = clean_shot("LQ-0001")
    rgb = liquor_sim.decode(liquor_sim.encode(shot.image, "jpeg", quality=90))
    recogniser = plugin.recogniser
    [top, *_] = recogniser.matcher.match(rgb)
    library = recogniser.library
    shown = recogniser.dense.score(frame_grey(rgb), top.view, top.homography)
    other = next(n for n, view in enumerate(library.views) if view.line != library.views[top.view].line)
    assert shown > 0.5 > recogniser.dense.score(frame_grey(rgb), other, top.homography)
    recognition = recogniser.recognise(rgb)
    assert recognition.evidence is not None and recognition.evidence.dense > 0.5


def test_frames_of_other_cameras_are_left_alone(plugin: LiquorLabelPlugin) -> None:
    [assessment] = plugin.smartcustoms_process_batch(
        [camera_frame(clean_shot("LQ-0001").image, role="vehicle_lane")]
    )
    assert assessment.decision == Decision.CLEAR and assessment.detections == ()
    assert SPEC.requires_metadata == frozenset({"camera_role"}) and SPEC.consumes == frozenset(
        {Modality.CAMERA}
    )
    assert IMPORT_PATH in DEFAULT_PLUGINS


def test_simulated_frames_carry_the_metadata_the_plugin_routes_on() -> None:
    shot = liquor_sim.LiquorSimulator(SEED, 96, 128).generate(0)
    frame = liquor_sim.to_frame(shot, source_id="red-channel-camera", sequence=1)
    assert (
        frame.metadata["camera_role"] == "red_channel" and frame.metadata["traveller_id"] == shot.traveller_id
    )


def test_settings_are_checked() -> None:
    for bad in ({"min_confidence": 1.5}, {"read_labels": "sometimes"}, {"colour": "red"}):
        with pytest.raises(ValueError, match="liquor_label"):
            LiquorLabelPlugin({**SPEC.default_settings, **bad}, PluginContext(SPEC.name))


def test_the_text_recogniser_downloads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """rapidocr-onnxruntime's models are files of the wheel: reading works with the network cut."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access during OCR")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    crop = np.full((48, 220, 3), 250, np.uint8)
    cv2.putText(crop, "43% vol", (8, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (20, 20, 20), 2, cv2.LINE_AA)
    [(text, score)] = LabelReader().recognise([crop])
    assert parse_abv(text) == 43.0 and score > 0.6


# --------------------------------------------------------------------------- library add


def test_library_add_extends_the_database_from_photos(library_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "liquor-labels"
    subprocess.run(["cp", "-r", str(library_dir), str(folder)], check=True)
    photos = [clean_shot(ADDED, index).image for index in (0, 10, 20)]
    item = liquor_sim.product(ADDED)
    facts = add.Facts(
        item.brand, item.product, item.category, item.abv_percent, item.volume_ml, item.reference_price_hkd
    )
    info = add.add(folder, facts, photos)
    library = load_library(folder)
    assert info.version == "sim-v1+LQ-0012" and library.products[-1].catalogue_id == "LQ-0012"
    assert len(library.views) > 9 and library.views[-1].source.startswith("photo ")
    settings = {**SPEC.default_settings, "library_dir": str(folder), "read_labels": "never"}
    extended = LiquorLabelPlugin(settings, PluginContext(SPEC.name))
    shot = clean_shot(ADDED, seed=SEED + 1)
    [assessment] = extended.smartcustoms_process_batch([camera_frame(shot.image)])
    assert assessment.detections[0].attributes["catalogue_id"] == "LQ-0012"
    with pytest.raises(LibraryError, match="already"):
        add.add(folder, facts, photos, catalogue_id="LQ-0001")


# --------------------------------------------------------------------------- commands


def _command(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="smartcustoms")
    commands = top.add_subparsers(dest="command", required=True)
    kinds = commands.add_parser("eval").add_subparsers(dest="kind", required=True)
    library = commands.add_parser("library").add_subparsers(dest="action", required=True)
    targets = library.add_parser("build").add_subparsers(dest="target", required=True)
    cli.add_tools(kinds, targets)
    cli.add_library_entries(library.add_parser("add").add_subparsers(dest="target", required=True))
    return top.parse_args(list(argv))


FACTS = ("--brand", "B", "--product", "P", "--category", "spirit", "--volume-ml", "700", "--price-hkd", "300")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--abv", "120", "PHOTO"), "ABV must be from 0 to 100"),
        (("--abv", "40", "missing.jpg"), "not an image file"),
    ],
)
def test_library_add_liquor_bad_input_is_one_line(
    library_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    argv = [a if a != "PHOTO" else str(photo) for a in extra]
    args = _command("library", "add", "liquor", *FACTS, "--library", str(library_dir), *argv)
    assert args.handler(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_eval_liquor_refuses_tuning_seeds_and_a_missing_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for seed in ("150", "305", "320", "335"):
        args = _command("eval", "liquor", "--seed", seed)
        assert args.handler(args) == 2
        assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.setenv("SMARTCUSTOMS_ARTEFACTS_DIR", str(tmp_path))
    args = _command("eval", "liquor", "--count", "1")
    assert args.handler(args) == 2
    assert BUILD_COMMAND in capsys.readouterr().err
    defaults = _command("eval", "liquor")
    assert (defaults.count, defaults.seed, defaults.renderer) == (280, 2000, "sim")


def test_eval_liquor_on_a_tiny_set_returns_every_figure(library_dir: Path) -> None:
    report = evaluate.evaluate(3, 2000, settings={"library_dir": str(library_dir)})
    assert {
        "top1",
        "top3",
        "officer_share",
        "wrong_unflagged",
        "duty_exact",
        "by_names",
        "ms_per_frame_p95",
    } <= set(report)
    assert report["count"] == 3 and "sent to officers" in evaluate.format_report(report)
    assert set(report["referrals"]) <= set(REFERRALS)  # every bottle sent says why


def test_the_evaluation_counts_why_bottles_were_sent() -> None:
    def outcome(truth: str, candidates: tuple[str, ...], referral: str) -> evaluate.Outcome:
        return evaluate.Outcome(truth, candidates, bool(referral), False, 1.0, referral=referral)

    outcomes = [
        outcome("LQ-0023", ("LQ-0024", "LQ-0023"), "volume_unread"),
        outcome("LQ-0024", ("LQ-0024", "LQ-0023"), "volume_unread"),
        outcome("LQ-0001", (), "no_label"),
        outcome("LQ-0001", ("LQ-0001",), ""),  # cleared: not counted
    ]
    counted = evaluate.referrals(outcomes)
    assert counted == {
        "volume_unread": {"frames": 2, "first_right": 1, "listed": 2},
        "no_label": {"frames": 1, "first_right": 0, "listed": 0},
    }
    assert list(counted) == ["volume_unread", "no_label"]  # most frequent first
    assert set(counted) <= set(REFERRALS)
    assert "why bottles were sent" in evaluate.format_report(
        {**evaluate.figures(outcomes), "count": 4, "renderer": "sim", "seed": 0, "library": "", "machine": ""}
    )
    with pytest.raises(ValueError, match="kind"):
        Recognition(())  # a referral that does not say why


def test_the_runtime_modules_import_no_simulator_and_no_tool() -> None:
    code = """
import json, pkgutil, importlib, sys
import smartcustoms.plugins.liquor as package
for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
    if module.name != package.__name__ + ".tools":
        importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout)
    assert "smartcustoms.plugins.liquor.plugin" in loaded
    assert not [m for m in loaded if m.startswith(("smartcustoms.hardware", "smartcustoms.runtime"))]
    assert "smartcustoms.plugins.liquor.tools" not in loaded
    assert "rapidocr_onnxruntime" not in loaded  # loaded when a plugin is built, not on import


def test_artefact_info_is_reported(plugin: LiquorLabelPlugin) -> None:
    [info] = plugin.artefacts
    assert isinstance(info, ArtefactInfo) and info.name == "liquor-labels"
