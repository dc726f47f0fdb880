"""``smartcustoms eval ct --data DIR``: a site's labelled CT volumes (DICOS CT or .npy, COCO-style 3D
boxes) scored as the simulated set is, and bad input in one line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.hardware import dicos
from smartcustoms.hardware.sim import ct
from smartcustoms.plugins.ct.tools import cli, dataset, evaluate

SEED = 951  # outside the development seeds and the held-out evaluation seeds
SHAPE = (96, 64, 96)


def _labelled(tmp_path: Path, shift: float = 0.0) -> Path:
    """Three simulated bags (a firearm, a knife, none) written as a site would: the first as a DICOS CT
    in HU, the others as .npy MHU volumes; boxes [x, y, z, w, h, d] in voxels, moved by ``shift``."""
    simulator = ct.CtSimulator(SEED, SHAPE)
    folder = tmp_path / f"site-{shift:g}"
    folder.mkdir()
    images, annotations = [], []
    for n, threat in enumerate(("firearm", "knife", None)):
        scan = simulator.generate(n, threat=threat)
        image = {
            "id": n + 1,
            "file_name": f"bag-{n}.npy",
            "depth": SHAPE[0],
            "height": SHAPE[1],
            "width": SHAPE[2],
        }
        if n == 0:
            image["file_name"] = "bag-0.dcs"
            hu = scan.volume.astype(np.int32) - 1000
            geometry = dicos.Geometry(
                pixel_spacing_mm=(scan.voxel_size_mm,) * 2, slice_spacing_mm=scan.voxel_size_mm
            )
            dicos.write_ct(folder / image["file_name"], hu.astype(np.int16), geometry=geometry)
        else:
            np.save(folder / image["file_name"], scan.volume)
            image |= {"voxel_size_mm": scan.voxel_size_mm, "rescale_slope": 1, "rescale_intercept": -1000}
        images.append(image)
        for t in scan.truth:
            z0, y0, x0, z1, y1, x1 = t.box
            bbox = [x0 + shift, y0, z0, x1 - x0, y1 - y0, z1 - z0]
            category = ["firearm", "knife", "explosive", "cigarettes"].index(t.label) + 1
            annotations.append(
                {"id": len(annotations) + 1, "image_id": n + 1, "category_id": category, "bbox3d": bbox}
            )
    categories = [
        {"id": i + 1, "name": c} for i, c in enumerate(["firearm", "knife", "explosive", "cigarettes"])
    ]
    document = {"images": images, "annotations": annotations, "categories": categories}
    (folder / "annotations.json").write_text(json.dumps(document))
    return folder


def test_a_sites_volumes_are_scored_against_their_boxes(tmp_path: Path) -> None:
    report = evaluate.evaluate_data(_labelled(tmp_path))
    assert (report["count"], report["clean_frames"]) == (3, 1)
    classes = report["classes"]
    assert (classes["firearm"]["objects"], classes["knife"]["objects"], classes["explosive"]["objects"]) == (
        1,
        1,
        0,
    )
    assert classes["firearm"]["pd"] == 1.0 and classes["knife"]["pd"] == 1.0  # found where the boxes say
    moved = evaluate.evaluate_data(_labelled(tmp_path, shift=40.0))  # boxes 12 cm off the objects
    assert moved["classes"]["firearm"]["pd"] == 0.0 and moved["classes"]["knife"]["pd"] == 0.0
    assert "labelled volumes in" in evaluate.format_report(report)


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_tools(parser.add_subparsers(dest="system"), None)
    args = parser.parse_args(["ct", *argv])
    return int(args.handler(args))


def test_a_directory_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _labelled(tmp_path)
    document = json.loads((folder / "annotations.json").read_text())
    one = {**document, "annotations": []}  # the second bag alone, no box
    cases = {
        "no such file": (tmp_path / "empty", None),
        "categories drugs": (folder, {**document, "categories": [{"id": 1, "name": "drugs"}]}),
        "names image 99": (
            folder,
            {**document, "annotations": [{**document["annotations"][0], "image_id": 99}]},
        ),
        "a box of no size": (
            folder,
            {**document, "annotations": [{**document["annotations"][0], "bbox3d": [1, 2, 3, 0, 5, 5]}]},
        ),
        "annotations say": (folder, {**one, "images": [{**document["images"][1], "depth": 7}]}),
        "neither a .npy volume": (
            folder,
            {**one, "images": [{**document["images"][1], "file_name": "a.png"}]},
        ),
    }
    (tmp_path / "empty").mkdir()
    for problem, (where, changed) in cases.items():
        if changed is not None:
            (where / "annotations.json").write_text(json.dumps(changed))
        assert _run("--data", str(where)) == 2, problem
        error = capsys.readouterr().err
        assert error.startswith("smartcustoms eval ct: ") and error.count("\n") == 1 and problem in error, (
            error
        )


def test_sim_ct_alt_writes_what_eval_ct_data_reads(tmp_path: Path) -> None:
    from smartcustoms.hardware.sim import cli as sim_cli
    from smartcustoms.hardware.sim import ct_alt

    top = argparse.ArgumentParser(prog="smartcustoms")
    sim_cli.add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["sim", "ct-alt", "--count", "3", "--seed", "7998", "--out", str(tmp_path)])
    assert args.handler(args) == 0
    coco = json.loads((tmp_path / "annotations.json").read_text())
    simulator = ct_alt.AltCtSimulator(7998, threat_rate=0.8)
    report = evaluate.evaluate_data(tmp_path)
    assert report["count"] == 3
    for image in coco["images"]:
        scan = simulator.generate(image["id"])
        assert np.array_equal(np.load(tmp_path / image["file_name"]), scan.volume)
        assert image["voxel_size_mm"] == pytest.approx(scan.voxel_size_mm, abs=1e-4)
        boxes = [a["bbox3d"] for a in coco["annotations"] if a["image_id"] == image["id"]]
        expected = [
            [x0, y0, z0, x1 - x0, y1 - y0, z1 - z0] for z0, y0, x0, z1, y1, x1 in (t.box for t in scan.truth)
        ]
        assert boxes == expected
    objects = sum(c["objects"] for c in report["classes"].values())
    assert objects == len(coco["annotations"])  # every written box read back as a true object
    from smartcustoms.core.frames import inline_view
    from smartcustoms.plugins.ct.plugin import volume_mhu, voxel_size_mm

    for (frame, _), image in zip(dataset.LabelledVolumes(tmp_path).frames(), coco["images"], strict=True):
        view = inline_view(frame)  # the detector reads the written volume as the generator made it
        assert np.array_equal(volume_mhu(view), simulator.generate(image["id"]).volume)
        assert voxel_size_mm(view) == pytest.approx(image["voxel_size_mm"])
