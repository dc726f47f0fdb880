"""DICOS in: the pixel size reaches the X-ray plugins, and every damaged file or unreachable gateway is
one clear line, not a traceback."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.core.frames import inline_view
from smartcustoms.hardware import adapters_cli, dicos


def _ingest(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    top = argparse.ArgumentParser(prog="smartcustoms")
    adapters_cli.add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["ingest-dicos", *argv])
    code = args.handler(args)
    return code, capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dual_energy(tmp_path: Path, spacing: tuple[float, float]) -> list[Path]:
    identity = dicos.Identity(ooi_id="bag-7", study_instance_uid="1.2.826.0.1.7")
    image = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32)
    paths = []
    for kvp in (160, 80):
        path = tmp_path / f"dx-{kvp}.dcs"
        dicos.write_dx(
            path, image, kvp=kvp, identity=identity, geometry=dicos.Geometry(pixel_spacing_mm=spacing)
        )
        paths.append(path)
    return paths


def test_the_pixel_spacing_reaches_the_detector_as_pixel_size(tmp_path: Path) -> None:
    [frame] = dicos.read_frames(_dual_energy(tmp_path, (0.8, 0.8)), source_id="lane-2", first_sequence=1)
    view = inline_view(frame)
    assert view.metadata["pixel_size_mm"] == "0.8" and view.metadata["pixel_spacing_mm"] == "0.8,0.8"
    assert view.metadata["channels"] == "high,low" and view.shape == (2, 24, 32)
    from smartcustoms.plugins.xray.plugin import _pixel_size

    assert _pixel_size(view) == pytest.approx(0.8)  # what the X-ray plugin reads from the frame


def test_non_square_pixels_give_the_side_of_a_square_of_the_same_area(tmp_path: Path) -> None:
    image = dicos.read_image(_dual_energy(tmp_path, (0.5, 2.0))[0])
    assert float(image.metadata["pixel_size_mm"]) == pytest.approx(1.0)
    assert image.metadata["pixel_spacing_mm"] == "0.5,2"


def test_a_file_cut_anywhere_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = _dual_energy(tmp_path, (0.8, 0.8))[0].read_bytes()
    cut = tmp_path / "cut.dcs"
    gateway = f"127.0.0.1:{_closed_port()}"
    for length in [0, 10, 128, 132, 200, *range(300, len(whole) - 1, 97), len(whole) - 1]:
        cut.write_bytes(whole[:length])
        code, err = _ingest(capsys, str(cut), "--gateway", gateway, "--source-id", "lane-2")
        assert code == 2, (length, err)
        assert err.count("\n") == 1 and str(cut) in err and "Traceback" not in err, (length, err)


def test_a_file_cut_inside_its_pixel_data_says_so(tmp_path: Path) -> None:
    whole = _dual_energy(tmp_path, (0.8, 0.8))[0].read_bytes()
    cut = tmp_path / "cut.dcs"
    cut.write_bytes(whole[: len(whole) - 100])
    with pytest.raises(dicos.DicosError, match="pixel data cut short"):
        dicos.read_image(cut)


def test_an_unreachable_gateway_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _dual_energy(tmp_path, (0.8, 0.8))
    code, err = _ingest(
        capsys, *map(str, paths), "--gateway", f"127.0.0.1:{_closed_port()}", "--source-id", "x"
    )
    assert code == 1
    assert err.count("\n") == 1 and "unreachable" in err and "Traceback" not in err
