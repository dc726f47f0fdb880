"""``smartcustoms eval xray --generator alt`` and ``--data DIR``: labelled images from outside, the alt
generator kept away from fitting, and the breakdown of misses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smartcustoms.core.evaluation import Labelled
from smartcustoms.hardware import dicos
from smartcustoms.hardware.sim import cli as sim_cli
from smartcustoms.plugins.xray.tools import crosscheck, dataset
from smartcustoms.runtime.cli import main


def write_alt_set(out: Path, count: int = 3, *extra: str) -> None:
    import argparse

    top = argparse.ArgumentParser()
    sim_cli.add_parser(top.add_subparsers(dest="command"))
    args = top.parse_args(
        [
            "sim",
            "xray-alt",
            "--count",
            str(count),
            "--seed",
            "6",
            "--out",
            str(out),
            "--height",
            "160",
            "--width",
            "320",
            "--threat-rate",
            "1",
            *extra,
        ]
    )
    assert args.handler(args) == 0


def test_sim_xray_alt_writes_what_eval_data_reads(tmp_path: Path) -> None:
    write_alt_set(tmp_path / "set")
    coco = json.loads((tmp_path / "set" / "annotations.json").read_text())
    assert {c["name"] for c in coco["categories"]} == {"cigarettes", "firearm", "knife", "phone"}
    images = dataset.LabelledImages(tmp_path / "set")
    bags = list(images.bags())
    assert len(images) == len(bags) == 3
    manifest = [json.loads(line) for line in (tmp_path / "set" / "manifest.jsonl").read_text().splitlines()]
    for bag, entry, image in zip(bags, manifest, coco["images"], strict=True):
        assert np.array_equal(bag.image, np.load(tmp_path / "set" / entry["file"]))
        assert bag.pixel_size_mm == pytest.approx(image["pixel_size_mm"])
        [truth] = bag.truths
        assert truth.label == entry["threats"][0]["label"]
        assert truth.box == tuple(float(v) for v in entry["threats"][0]["box"])


def test_dicos_dual_energy_images_are_read_with_their_pixel_size(tmp_path: Path) -> None:
    high = np.full((40, 60), 50000, dtype=np.uint16)
    identity = dicos.Identity(ooi_id="bag-1", study_instance_uid="1.2.3.4")
    geometry = dicos.Geometry(pixel_spacing_mm=(0.9, 0.9))
    dicos.write_dx(tmp_path / "low.dcs", high // 2, kvp=80, identity=identity, geometry=geometry)
    dicos.write_dx(tmp_path / "high.dcs", high, kvp=160, identity=identity, geometry=geometry)
    coco = {
        "images": [{"id": 7, "file_names": ["low.dcs", "high.dcs"], "height": 40, "width": 60}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [5, 6, 10, 12]}],
        "categories": [{"id": 2, "name": "knife"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    [bag] = dataset.LabelledImages(tmp_path).bags()
    assert bag.image.shape == (2, 40, 60) and bag.image.dtype == np.uint16
    assert bag.image[0, 0, 0] == 50000 and bag.image[1, 0, 0] == 25000  # highest kVp first
    assert bag.pixel_size_mm == pytest.approx(0.9) and bag.pixel_spacing_mm == (0.9, 0.9)
    assert bag.truths[0].box == (5.0, 6.0, 15.0, 18.0) and bag.truths[0].label == "knife"

    # non-square pixels: from the DICOS spacing, or given for a .npy image
    wide = dicos.Geometry(pixel_spacing_mm=(0.9, 1.35))
    identity = dicos.Identity(ooi_id="bag-2", study_instance_uid="1.2.3.5")
    dicos.write_dx(tmp_path / "w-low.dcs", high // 2, kvp=80, identity=identity, geometry=wide)
    dicos.write_dx(tmp_path / "w-high.dcs", high, kvp=160, identity=identity, geometry=wide)
    np.save(tmp_path / "n.npy", np.stack([high, high // 2]))
    coco["images"] = [
        {"id": 7, "file_names": ["w-low.dcs", "w-high.dcs"]},
        {"id": 8, "file_name": "n.npy", "pixel_spacing_mm": [0.8, 1.2]},
    ]
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    dicos_bag, npy_bag = dataset.LabelledImages(tmp_path).bags()
    assert (dicos_bag.pixel_spacing_mm, npy_bag.pixel_spacing_mm) == ((0.9, 1.35), (0.8, 1.2))
    for bad in ([0.8], [0.8, -1], "0.8,1.2", [0.8, 1.2, 1.0]):
        coco["images"] = [{"id": 8, "file_name": "n.npy", "pixel_spacing_mm": bad}]
        (tmp_path / "annotations.json").write_text(json.dumps(coco))
        with pytest.raises(crosscheck.CrossCheckError, match="image 8: pixel_spacing_mm must be"):
            dataset.LabelledImages(tmp_path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"images": [{"id": 1}], "annotations": [], "categories": []}, "no file_name"),
        (
            {
                "images": [{"id": 1, "file_name": "a.npy"}],
                "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}],
                "categories": [{"id": 1, "name": "knife"}],
            },
            "names image 2",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.npy"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}],
                "categories": [{"id": 1, "name": "knife"}],
            },
            "unknown category 9",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.npy"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0]}],
                "categories": [{"id": 1, "name": "knife"}],
            },
            "malformed",
        ),
        ([1, 2], "COCO-style"),
    ],
)
def test_malformed_annotations_are_refused_in_one_line(tmp_path: Path, document: Any, message: str) -> None:
    (tmp_path / "annotations.json").write_text(json.dumps(document))
    with pytest.raises(crosscheck.CrossCheckError, match=message) as refused:
        dataset.LabelledImages(tmp_path)
    assert "\n" not in str(refused.value)


def test_an_image_that_is_not_dual_energy_uint16_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((40, 60), dtype=np.float32))
    coco = {"images": [{"id": 1, "file_name": "a.npy"}], "annotations": [], "categories": []}
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    with pytest.raises(crosscheck.CrossCheckError, match=r"uint16 \[2, H, W\]"):
        list(dataset.LabelledImages(tmp_path).bags())


def test_the_alt_generator_refuses_a_fitting_or_tuning_caller() -> None:
    for module in ("smartcustoms.plugins.xray.tools.fit", "smartcustoms.plugins.xray.tools.tune"):
        namespace: dict[str, Any] = {"__name__": module, "crosscheck": crosscheck}
        exec("def draw():\n    return next(crosscheck.alt_bags(1, 1, shape=(64, 128)))", namespace)
        with pytest.raises(crosscheck.CrossCheckError, match="nothing may be fitted"):
            namespace["draw"]()
    assert next(crosscheck.alt_bags(1, 1, shape=(64, 128))).image.shape == (2, 64, 128)


def test_a_calibration_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"ratio_metal": 2.0, "metal_mu_low_per_cm": 12.0}))
    assert crosscheck.read_calibration(good) == {"ratio_metal": 2.0, "metal_mu_low_per_cm": 12.0}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ratio_metals": 2.0}))
    with pytest.raises(crosscheck.CrossCheckError, match=r"unknown field\(s\) ratio_metals"):
        crosscheck.read_calibration(bad)
    bad.write_text(json.dumps({"gain_high": [1.0, 0.0], "gain_low": [1.0, 1.0]}))
    with pytest.raises(crosscheck.CrossCheckError, match="gain_high must be a list of positive numbers"):
        crosscheck.read_calibration(bad)


class FakeDetector:
    """Candidates given per bag name, thresholds 0.5."""

    classes = ("firearm", "knife")

    def __init__(self, candidates: dict[int, list[Labelled]]) -> None:
        self.by_size = candidates

    def threshold(self, label: str) -> float:
        return 0.5

    def candidates(
        self,
        image: np.ndarray,
        *,
        pixel_size_mm: float | None = None,
        pixel_spacing_mm: tuple[float, float] | None = None,
    ) -> tuple[list[Any], None]:
        return self.by_size[image.shape[1]], None  # label, box and score are all the scoring reads


def test_misses_are_told_apart_and_false_alarms_counted() -> None:
    truth = crosscheck.Truth("firearm", (10.0, 10.0, 50.0, 50.0), 30.0, "revolver")
    bags = [
        crosscheck.Bag(np.zeros((2, size, 64), dtype=np.uint16), 1.0, (truth,)) for size in (8, 9, 10, 11, 12)
    ]
    candidates = {
        8: [Labelled("firearm", (11, 11, 50, 50), 0.9)],  # found
        9: [Labelled("firearm", (11, 11, 50, 50), 0.2)],  # below threshold
        10: [Labelled("knife", (10, 10, 50, 50), 0.8)],  # taken for a knife (and a false alarm)
        11: [Labelled("firearm", (40, 40, 90, 90), 0.9)],  # misplaced (and a false alarm)
        12: [],  # nothing
    }
    run = crosscheck.score_bags(FakeDetector(candidates), bags, min_iou=0.3)  # type: ignore[arg-type]
    assert [t.design for t in run.found] == ["revolver"]
    assert [m.reason for m in run.misses] == ["below_threshold", "other_class", "misplaced", "no_candidate"]
    assert run.misses[0].best_score == pytest.approx(0.2) and run.misses[1].other_label == "knife"
    assert run.false_alarms == {"knife": 1, "firearm": 1}
    lines = crosscheck.format_report(run, "header")
    assert any(line.strip().startswith("firearm      1 / 1 / 1 / 1") for line in lines)
    assert "PD by object: revolver 1/5" in lines
    assert run.evaluation.overall_pd() == pytest.approx(0.2)


def test_eval_xray_data_runs_the_plugin_on_a_written_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_alt_set(tmp_path / "set", 2)
    with pytest.raises(SystemExit) as done:
        main(["eval", "xray", "--data", str(tmp_path / "set")])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "labelled images" in out and "match IoU >= 0.3" in out and "mAP@0.3" in out
    with pytest.raises(SystemExit) as refused:
        main(["eval", "xray", "--data", str(tmp_path / "set"), "--generator", "alt"])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as missing:
        main(["eval", "xray", "--data", str(tmp_path / "nowhere")])
    assert missing.value.code == 2
    assert "annotations.json: no such file" in capsys.readouterr().err


def test_the_alt_calibration_comes_from_wedge_scans_and_keeps_the_material_order() -> None:
    from smartcustoms.plugins.xray.materials import Calibration
    from smartcustoms.plugins.xray.tools import calibrate_alt

    values = calibrate_alt.calibration(seed=11, scans=2)
    calibration = Calibration(**values)
    organic = calibration.organic_mu_low_per_cm / calibration.organic_mu_high_per_cm
    metal = calibration.metal_mu_low_per_cm / calibration.metal_mu_high_per_cm
    assert 1.0 < organic < calibration.ratio_inorganic < calibration.ratio_metal < metal
    assert 0.05 < calibration.empty_line_integral < 0.3
    one = calibrate_alt.scanner_calibration(11, 0)
    assert one != values and set(one) == set(values)


def test_a_gain_map_of_another_height_is_one_line_naming_the_bag(
    artefact_root: Path, xray_library: Any
) -> None:
    from smartcustoms.plugins.xray.tools.evaluate import tool_plugin

    detector = tool_plugin(
        {"calibration": {"gain_high": [1.0] * 10, "gain_low": [1.0] * 10}}, artefact_root=artefact_root
    ).detector
    bag = crosscheck.Bag(np.full((2, 64, 128), 60000, np.uint16), 1.0, (), "bag-7.npy")
    with pytest.raises(
        crosscheck.CrossCheckError, match=r"bag-7\.npy: the calibration.s gain map has 10 rows, the image 64"
    ):
        crosscheck.score_bags(detector, [bag])
