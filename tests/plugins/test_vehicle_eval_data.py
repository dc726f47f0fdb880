"""``smartcustoms eval vehicle --data DIR`` on labelled outside scans (COCO-style boxes), end to end: the
simulator's scans written as such a folder, its references enrolled with ``library add vehicle``, and the
same figures as the simulated evaluation of the same scans."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartcustoms.plugins.vehicle.settings import LABELS
from smartcustoms.plugins.vehicle.tools import build, cli, evaluate, labelled

SEED = 7  # neither a development seed (200-299) nor an evaluation seed (2000 on)
COUNT = 10
HEIGHT, WIDTH = 512, 1536


def _command(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="smartcustoms")
    commands = top.add_subparsers(dest="command", required=True)
    kinds = commands.add_parser("eval").add_subparsers(dest="kind", required=True)
    library = commands.add_parser("library").add_subparsers(dest="action", required=True)
    cli.add_tools(kinds, library.add_parser("build").add_subparsers(dest="target", required=True))
    cli.add_library_entries(library.add_parser("add").add_subparsers(dest="artefact", required=True))
    return top.parse_args(list(argv))


def _run(*argv: str) -> int:
    args = _command(*argv)
    code: int = args.handler(args)
    return code


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's references at the scans' size, as ``library build vehicle`` makes them."""
    root = tmp_path_factory.mktemp("sim-root")
    build.build(root / "vehicle-references", shape=(HEIGHT, WIDTH))
    return root


def _enrol_all(data: Path, refs: Path, with_sizes: bool) -> None:
    """Every reference the folder ships, through ``smartcustoms library add vehicle``."""
    for entry in json.loads((data / "references" / labelled.REFERENCES_FILE).read_text()):
        argv = ["library", "add", "vehicle", *(str(data / f) for f in entry["files"])]
        argv += ["--model", entry["model"], "--kind", entry["kind"], "--library", str(refs)]
        if with_sizes:
            argv += ["--pixel-size-mm", *(str(v) for v in entry["pixel_size_mm"])]
        if entry["cargo_box_px"]:
            argv += ["--cargo-box-px", *(str(v) for v in entry["cargo_box_px"])]
        assert _run(*argv) == 0


def _figure_lines(report_text: str) -> list[str]:
    """The report's figures, without its header and its times."""
    lines = report_text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("class"))
    return [line for line in lines[start:] if not line.startswith("time per frame")]


@pytest.mark.parametrize(
    ("image_format", "variations"),
    [("png", ()), ("dicos", ("levels", "pixels")), ("jpeg", ())],
)
def test_eval_on_labelled_scans_gives_the_simulated_evals_figures(
    tmp_path: Path,
    sim_root: Path,
    capsys: pytest.CaptureFixture[str],
    image_format: str,
    variations: tuple[str, ...],
) -> None:
    """16-bit PNG (pixel size in the annotations), DICOS DX (both energies, the spacing in the files:
    pixels longer along the vehicle, levels shifted) and 8-bit JPEG (scans and references exported): the
    figures of the simulated evaluation of the same scans with the simulator's own references."""
    data, refs = tmp_path / "data", tmp_path / "refs"
    simulated = evaluate.evaluate(
        COUNT, SEED, artefact_root=sim_root, height=HEIGHT, width=WIDTH, variations=variations
    )
    labelled.write_simulated(
        data, COUNT, SEED, height=HEIGHT, width=WIDTH, variations=variations, image_format=image_format
    )
    document = json.loads((data / labelled.ANNOTATIONS_FILE).read_text())
    assert len(document["images"]) == COUNT
    assert len(document["annotations"]) == sum(c["objects"] for c in simulated["classes"].values()) > 0
    _enrol_all(data, refs, with_sizes=image_format != "dicos")
    capsys.readouterr()
    assert _run("eval", "vehicle", "--data", str(data), "--references", str(refs)) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"vehicle evaluation on labelled scans: {COUNT} frames of {data}")
    assert "+container-20ft" in printed.splitlines()[0]  # the enrolled references, not the simulator's
    assert _figure_lines(printed) == _figure_lines(evaluate.format_report(simulated))
    assert simulated["classes"]["hidden_compartment"]["detected"] > 0


def _folder(tmp_path: Path, **image: object) -> Path:
    """A folder of one 100 x 300 PNG scan of a van and its annotations, ``image`` overriding its entry."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    cv2.imwrite(str(data / "scan.png"), np.full((100, 300), 60000, np.uint16))
    entry = {"id": 1, "file_name": "scan.png", "width": 300, "height": 100, "vehicle_model": "van-1"}
    entry.update(image)
    document = {
        "images": [{k: v for k, v in entry.items() if v is not None}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 40]}],
        "categories": [{"id": n + 1, "name": name} for n, name in enumerate(LABELS)],
    }
    (data / labelled.ANNOTATIONS_FILE).write_text(json.dumps(document))
    return data


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ({"file_name": "gone.png"}, "no such file"),
        ({"width": 301}, "the annotations say 100 x 301"),
        ({"vehicle_model": None}, "no container_type or vehicle_model"),
        ({"vehicle_model": "45G1"}, "no reference of 45G1"),
        ({"pixel_size_mm": -4}, "positive"),
        ({"pixel_size_along_mm": 25.0}, "needs pixel_size_across_mm"),
        ({"pixel_spacing_mm": [13.5, 0]}, "positive"),
    ],
)
def test_every_bad_folder_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], image: dict[str, object], says: str
) -> None:
    refs = tmp_path / "refs"
    cv2.imwrite(str(tmp_path / "van.png"), np.full((100, 300), 60000, np.uint16))
    van = [str(tmp_path / "van.png"), "--model", "van-1", "--pixel-size-mm", "10", "--library", str(refs)]
    assert _run("library", "add", "vehicle", *van) == 0
    data = _folder(tmp_path, **image)
    capsys.readouterr()
    assert _run("eval", "vehicle", "--data", str(data), "--references", str(refs)) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("smartcustoms eval vehicle: ") and says in error


def test_malformed_annotations_and_simulator_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _folder(tmp_path)
    cases: list[tuple[str, list[str]]] = [("no such file", ["--data", str(tmp_path / "nowhere")])]
    cases.append(("do not apply", ["--data", str(data), "--seed", "2001"]))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / labelled.ANNOTATIONS_FILE).write_text("{not json")
    cases.append(("not JSON", ["--data", str(tmp_path / "broken")]))
    document = json.loads((data / labelled.ANNOTATIONS_FILE).read_text())
    document["categories"][0]["name"] = "explosive"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / labelled.ANNOTATIONS_FILE).write_text(json.dumps(document))
    cases.append(("unknown categories ['explosive']", ["--data", str(tmp_path / "other")]))
    for says, argv in cases:
        assert _run("eval", "vehicle", *argv) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and says in error, (argv, error)


def test_enrol_references_enrols_every_listed_reference_as_the_command_does(tmp_path: Path) -> None:
    """``labelled.enrol_references``: each reference of ``references.json`` in the library with its model,
    kind, pixel size and cargo box, as ``library add vehicle`` with the same options writes it."""
    data, by_command, by_function = tmp_path / "data", tmp_path / "cmd", tmp_path / "fn"
    labelled.write_simulated(data, 1, SEED, height=HEIGHT, width=WIDTH)
    _enrol_all(data, by_command, with_sizes=True)
    names = labelled.enrol_references(data, by_function)
    listed = json.loads((data / "references" / labelled.REFERENCES_FILE).read_text())
    assert sorted(names) == sorted(f"{entry['model']}.npy" for entry in listed)
    for name in names:
        assert np.array_equal(np.load(by_function / name), np.load(by_command / name))
        sidecar = name.replace(".npy", ".json")
        written, expected = (json.loads((root / sidecar).read_text()) for root in (by_function, by_command))
        assert {k: v for k, v in written.items() if k != "description"} == {
            k: v for k, v in expected.items() if k != "description"
        }


def test_enrol_references_refuses_a_list_not_as_documented(tmp_path: Path) -> None:
    (tmp_path / "references").mkdir()
    with pytest.raises(labelled.LabelsError, match="no such file"):
        labelled.enrol_references(tmp_path, tmp_path / "lib")
    listing = tmp_path / "references" / labelled.REFERENCES_FILE
    for broken in ("[{", '[{"files": ["a.png"], "model": "van-1"}]', '[{"model": "a b", "kind": "van"}]'):
        listing.write_text(broken)
        with pytest.raises(labelled.LabelsError, match="not a list of references"):
            labelled.enrol_references(tmp_path, tmp_path / "lib")
    assert not (tmp_path / "lib").exists()


def test_the_writer_refuses_development_seeds_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="develop"):
        labelled.write_simulated(tmp_path, 1, 250)
    with pytest.raises(ValueError, match="format"):
        labelled.write_simulated(tmp_path, 1, SEED, image_format="bmp")
    assert labelled.main(["--out", str(tmp_path / "x"), "--seed", "201", "--count", "1"]) == 2


def test_an_images_pixel_size_becomes_the_frames_and_wins_over_the_files() -> None:
    from smartcustoms.plugins.vehicle.tools.scan_files import PixelSpacing

    dicos = PixelSpacing(30.0, 15.0)
    spacing = {"vehicle_model": "van-1", "pixel_spacing_mm": [13.5, 25.0]}  # across, along (as DICOS)
    assert labelled.frame_metadata(spacing, dicos) == {
        "vehicle_model": "van-1",
        "declared_goods": "empty",
        "pixel_size_mm": "13.5",
        "pixel_size_along_mm": "25",
        "pixel_size_across_mm": "13.5",
    }
    square = {"container_type": "42G1", "pixel_size_mm": 10, "declared_goods": "tiles", "declared_pallets": 4}
    assert labelled.frame_metadata(square, dicos) == {
        "container_type": "42G1",
        "declared_goods": "tiles",
        "declared_pallets": "4",
        "pixel_size_mm": "10",
    }
    assert labelled.frame_metadata({"vehicle_model": "van-1"}, dicos)["pixel_size_along_mm"] == "30"
    assert "pixel_size_mm" not in labelled.frame_metadata({"vehicle_model": "van-1"}, None)
