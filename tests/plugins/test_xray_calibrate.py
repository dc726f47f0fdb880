"""``smartcustoms calibrate xray``: a scanner's calibration measured from its own air and step-wedge
scans recovers the attenuation it was made with, and bad input is one line and exit 2."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.plugins.xray.materials import Calibration
from smartcustoms.plugins.xray.tools import calibrate

# (high, low) attenuation per cm of a scanner the detector has never seen, and its belt's line integrals
TRUE_MU = {"cellulose": (0.24, 0.33), "aluminium": (0.55, 1.05), "iron": (4.1, 12.9)}
BELT = (0.07, 0.095)
THICKNESS_CM = {"cellulose": (1.0, 2.0, 4.0), "aluminium": (0.5, 1.0, 2.0), "iron": (0.1, 0.2, 0.4)}


def scanner_scans(noise: float = 0.0) -> tuple[np.ndarray, np.ndarray, list[dict[str, object]]]:
    """An air scan, a step wedge and its steps file, as the scanner above would record them."""
    rng = np.random.default_rng(3)
    lines = np.empty((2, 64, 9 * 40), np.float64)
    lines[0], lines[1] = BELT
    air = lines.copy()
    steps = []
    for n, (material, thicknesses) in enumerate(THICKNESS_CM.items()):
        for k, thickness in enumerate(thicknesses):
            x0 = (3 * n + k) * 40
            lines[:, 8:56, x0 + 4 : x0 + 36] += np.array(TRUE_MU[material])[:, None, None] * thickness
            steps.append({"material": material, "thickness_cm": thickness, "box": [x0 + 4, 8, x0 + 36, 56]})

    def counts(line_integrals: np.ndarray) -> np.ndarray:
        values = (
            calibrate.FULL_SCALE
            * np.exp(-line_integrals)
            * (1 + noise * rng.standard_normal(line_integrals.shape))
        )
        return np.clip(values, 0, 65535).astype(np.uint16)

    return counts(air), counts(lines), steps


def test_the_measured_attenuation_is_the_scanners_own() -> None:
    air, wedge, items = scanner_scans()
    steps = [calibrate.Step(str(s["material"]), float(s["thickness_cm"]), tuple(s["box"])) for s in items]  # type: ignore[arg-type]  # test data of known shape
    mu = calibrate.attenuation(air, wedge, steps)
    for material, expected in TRUE_MU.items():
        assert mu[material] == pytest.approx(expected, rel=2e-3), material
    values = calibrate.calibration_from(mu)
    ratio = {m: TRUE_MU[m][1] / TRUE_MU[m][0] for m in TRUE_MU}
    assert values["ratio_inorganic"] == pytest.approx(
        math.sqrt(ratio["cellulose"] * ratio["aluminium"]), rel=2e-3
    )
    assert values["ratio_metal"] == pytest.approx(math.sqrt(ratio["aluminium"] * ratio["iron"]), rel=2e-3)
    assert values["empty_line_integral"] == pytest.approx(1.5 * BELT[0], rel=1e-2)
    assert Calibration(**values).metal_mu_low_per_cm == pytest.approx(12.9, rel=2e-3)  # the plugin takes it


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    calibrate.add_parser(parser.add_subparsers(dest="system"))
    args = parser.parse_args(["xray", *argv])
    return int(args.handler(args))


def test_the_command_writes_the_file_or_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    air, wedge, items = scanner_scans(noise=0.002)
    np.save(tmp_path / "air.npy", air)
    np.save(tmp_path / "wedge.npy", wedge)
    (tmp_path / "steps.json").write_text(json.dumps(items))
    scans = ["--air", str(tmp_path / "air.npy"), "--wedge", str(tmp_path / "wedge.npy")]
    out = tmp_path / "lane-1.json"
    assert run(*scans, "--steps", str(tmp_path / "steps.json"), "--out", str(out)) == 0
    written = json.loads(out.read_text())
    assert written["metal_mu_high_per_cm"] == pytest.approx(4.1, rel=0.02)
    capsys.readouterr()

    bad_steps = {
        "not-json.json": "[{",
        "gold.json": json.dumps([{**items[0], "material": "gold"}]),
        "outside.json": json.dumps([{**items[0], "box": [0, 0, 9999, 10]}]),
        "no-iron.json": json.dumps([s for s in items if s["material"] != "iron"]),
    }
    for name, text in bad_steps.items():
        (tmp_path / name).write_text(text)
        assert run(*scans, "--steps", str(tmp_path / name), "--out", str(tmp_path / "x.json")) == 2
        error = capsys.readouterr().err
        assert error.startswith("smartcustoms calibrate xray: ") and error.count("\n") == 1, error
    np.save(tmp_path / "small.npy", air[:, :10, :10])
    assert (
        run(
            "--air",
            str(tmp_path / "small.npy"),
            *scans[2:],
            "--steps",
            str(tmp_path / "steps.json"),
            "--out",
            str(tmp_path / "y.json"),
        )
        == 2
    )
    assert "differ in size" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "y.json").exists()
