"""One import name, ``smartcustoms``, in editable and regular installs alike."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import smartcustoms.core

ROOT = Path(__file__).parent.parent


def test_the_editable_install_maps_the_design_folders() -> None:
    assert Path(smartcustoms.core.__file__).parent == ROOT / "core"
    from smartcustoms.v1 import ingest_pb2_grpc

    assert Path(ingest_pb2_grpc.__file__).parent == ROOT / "proto" / "smartcustoms" / "v1"


@pytest.mark.slow
def test_a_regular_install_holds_one_smartcustoms_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "wheel"),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "wheel").glob("smartcustoms-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"smartcustoms"}
    for expected in (
        "smartcustoms/core/hookspecs.py",
        "smartcustoms/v1/ingest_pb2_grpc.py",
        "smartcustoms/v1/ingest.proto",
        "smartcustoms/plugins/xray/dense_region.py",
        "smartcustoms/plugins/xray/tools/fitted_model.json",
        "smartcustoms/plugins/xray/net/xray_net.onnx",
        "smartcustoms/plugins/xray/net/xray_net.json",
    ):
        assert expected in names

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
    )
    probe = (
        "import smartcustoms.core, smartcustoms.runtime.cli, smartcustoms.v1.ingest_pb2_grpc as g;"
        "print(smartcustoms.core.__file__); print(g.__file__)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert all(path.startswith(str(site)) for path in found), found
