"""``smartcustoms sim``: each kind writes its data, a manifest of ground truth, and the same bytes twice."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smartcustoms.hardware.sim import cli
from smartcustoms.v1 import frame_pb2

SIZES = {  # small items, so the whole matrix runs in seconds
    "xray": ["--height", "64", "--width", "128"],
    "vehicle": ["--height", "64", "--width", "192"],
    "ct": ["--depth", "32", "--height", "16", "--width", "24"],
    "liquor": ["--height", "96", "--width", "128"],
    "rfid": ["--tags", "50"],
    "warehouse": ["--items", "40"],
}
EXPECTED_LINES = {"warehouse": 3 * 5}  # three ticks of five readers


def sim_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="smartcustoms")
    cli.add_parser(top.add_subparsers(dest="command", required=True))
    return top


def run(kind: str, out: Path, *extra: str) -> int:
    args = sim_parser().parse_args(["sim", kind, "--count", "3", "--seed", "5", "--out", str(out), *extra])
    handler = args.handler
    return int(handler(args))


def manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", cli.KINDS)
def test_sim_writes_a_reproducible_data_set(tmp_path: Path, kind: str) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(kind, first, "--frames", *SIZES.get(kind, [])) == 0
    assert run(kind, second, "--frames", *SIZES.get(kind, [])) == 0
    assert tree(first) == tree(second)
    description = json.loads((first / "dataset.json").read_text())
    assert (description["kind"], description["seed"], description["count"]) == (kind, 5, 3)
    entries = manifest(first)
    assert len(entries) == EXPECTED_LINES.get(kind, 3)
    for entry in entries:
        if "file" in entry:
            assert (first / entry["file"]).is_file()
        frame = frame_pb2.Frame.FromString((first / entry["frame"]).read_bytes())
        assert frame.source_id and frame.payload_bytes == len(frame.payload)
        assert frame.capture_time.seconds >= cli.FRAME_EPOCH_S


def test_array_kinds_store_what_the_manifest_describes(tmp_path: Path) -> None:
    assert run("xray", tmp_path / "xray", *SIZES["xray"], "--threat-rate", "1") == 0
    for entry in manifest(tmp_path / "xray"):
        image = np.load(tmp_path / "xray" / str(entry["file"]))
        assert image.shape == (2, 64, 128) and image.dtype == np.uint16
        assert len(entry["threats"]) == 1
    assert run("vehicle", tmp_path / "vehicle", *SIZES["vehicle"]) == 0
    references = sorted(p.name for p in (tmp_path / "vehicle" / "references").iterdir())
    assert len(references) == 6
    for entry in manifest(tmp_path / "vehicle"):
        assert (tmp_path / "vehicle" / str(entry["reference"])).is_file()
    assert run("ct", tmp_path / "ct", *SIZES["ct"]) == 0
    assert np.load(tmp_path / "ct" / "volumes" / "000000.npy").shape == (32, 16, 24)


def test_liquor_writes_images_labels_and_catalogue(tmp_path: Path) -> None:
    assert run("liquor", tmp_path, *SIZES["liquor"], "--encoding", "png") == 0
    catalogue = json.loads((tmp_path / "catalogue.json").read_text())
    assert all((tmp_path / item["label"]).is_file() for item in catalogue)
    for entry in manifest(tmp_path):
        assert str(entry["file"]).endswith(".png")
        assert entry["catalogue_id"] in {item["catalogue_id"] for item in catalogue}


def test_record_kinds_write_count_records_with_their_truth(tmp_path: Path) -> None:
    args = ["--batch-size", "40", "--illicit-rate", "0.5"]
    parsed = sim_parser().parse_args(["sim", "crossings", "--count", "100", "--out", str(tmp_path), *args])
    assert parsed.handler(parsed) == 0
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(lines) == 100 and len(manifest(tmp_path)) == 100
    record = json.loads(lines[0])
    assert record["kind"] == "vehicle_crossing" and "illicit" in record["fields"]
    assert 20 < sum(entry["illicit"] == "1" for entry in manifest(tmp_path)) < 80


def test_warehouse_writes_events_and_work_orders(tmp_path: Path) -> None:
    assert run("warehouse", tmp_path, *SIZES["warehouse"]) == 0
    assert (tmp_path / "events.jsonl").exists() and (tmp_path / "work_orders.jsonl").exists()
    assert len((tmp_path / "reports.jsonl").read_text().splitlines()) == 15


def test_bad_arguments_exit_with_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("vehicle", tmp_path, "--concealment-rate", "3") == 2
    assert "concealment_rate" in capsys.readouterr().out
    args = sim_parser().parse_args(["sim", "xray", "--count", "-1", "--out", str(tmp_path)])
    assert args.handler(args) == 2
