"""The independent X-ray bag generator (``hardware.sim.xray_alt``): reproducible, its physics, its truth."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.core.frames import inline_view
from smartcustoms.hardware.sim import _xray_alt_objects as objects
from smartcustoms.hardware.sim import xray_alt
from smartcustoms.hardware.sim._xray_alt_physics import Scanner, mass_attenuation

SMALL = {"height": 256, "width": 512}


def lines(image: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(image.astype(np.float64), 0.5) / 65535)


def test_same_seed_and_index_give_identical_bytes_and_others_differ() -> None:
    first = xray_alt.AltXraySimulator(4, **SMALL).generate(2)
    again = xray_alt.AltXraySimulator(4, **SMALL).generate(2)
    assert first.image.tobytes() == again.image.tobytes() and first.truth == again.truth
    assert first.image.tobytes() != xray_alt.AltXraySimulator(4, **SMALL).generate(3).image.tobytes()
    assert first.image.tobytes() != xray_alt.AltXraySimulator(5, **SMALL).generate(2).image.tobytes()


def test_a_scan_keeps_the_frame_contract() -> None:
    scan = xray_alt.AltXraySimulator(1, **SMALL).generate(0, threat="knife")
    assert scan.image.shape == (2, 256, 512) and scan.image.dtype == np.uint16
    frame = xray_alt.to_frame(scan, source_id="lane-9", sequence=3)
    view = inline_view(frame)
    assert np.array_equal(view.array(), scan.image)
    assert view.metadata["channels"] == "high,low"
    assert float(view.metadata["pixel_size_mm"]) == pytest.approx(scan.pixel_size_mm, abs=1e-4)
    assert float(view.metadata["energy_high_kev"]) > float(view.metadata["energy_low_kev"]) > 20
    [truth] = json.loads(view.metadata["sim_truth"])
    assert truth["label"] == "knife" and truth["box"] == list(scan.truth[0].box)


def test_every_scan_draws_its_own_scanner_within_the_ranges() -> None:
    simulator = xray_alt.AltXraySimulator(2, **SMALL)
    scanners = [simulator.generate(index).scanner for index in range(12)]
    assert len({s.kvp for s in scanners}) == 12
    assert all(80 <= s.kvp <= 160 and 0.5 <= s.pixel_size_mm <= 1.5 for s in scanners)
    assert len({round(s.pixel_size_mm, 2) for s in scanners}) > 3


def test_heavier_elements_attenuate_the_low_channel_more() -> None:
    scanner = Scanner.draw(np.random.default_rng(0))
    ratio = {
        m: scanner.thin_attenuation(m, 1) / scanner.thin_attenuation(m, 0)
        for m in ("paper", "aluminium", "steel", "tobacco")
    }
    assert ratio["paper"] < ratio["aluminium"] < ratio["steel"]
    assert ratio["paper"] < ratio["tobacco"] < ratio["aluminium"]  # its minerals, but still organic
    assert mass_attenuation("water")[0] > mass_attenuation("water")[-1]  # falls with energy


def test_thick_steel_hardens_the_beam() -> None:
    scan = xray_alt.wedge_scan(7, 0)
    belt = lines(scan.air).reshape(2, -1).mean(axis=1)
    wedge = lines(scan.wedge)
    steel = [
        (t, wedge[:, y0 + 3 : y1 - 3, x0 + 3 : x1 - 3].reshape(2, -1).mean(axis=1) - belt)
        for material, t, (x0, y0, x1, y1) in scan.steps
        if material == "iron"
    ]
    per_cm = [step[0] / t for t, step in steel]
    ratios = [step[1] / step[0] for _, step in steel]
    assert all(a > b for a, b in itertools.pairwise(per_cm))  # thicker steel attenuates less per cm
    assert ratios[0] > ratios[-1]


@pytest.mark.parametrize("label", xray_alt.THREAT_CLASSES)
def test_a_forced_threat_lies_inside_its_box(label: str) -> None:
    simulator = xray_alt.AltXraySimulator(3, **SMALL)
    with_threat, without = simulator.generate(5, threat=label), simulator.generate(5, threat=None)
    [truth] = with_threat.truth
    x0, y0, x1, y1 = truth.box
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 256 and truth.label == label
    added = lines(with_threat.image)[0] - lines(without.image)[0]
    inside = added[y0:y1, x0:x1].sum()
    outside = np.abs(added).sum() - np.abs(added[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4]).sum()
    assert inside > 20 * max(outside, 1e-9) or outside < 0.02 * inside


def test_threats_come_in_every_class_design_and_at_any_angle() -> None:
    simulator = xray_alt.AltXraySimulator(8, 192, 384, threat_rate=1.0)
    truths = [t for index in range(60) for t in simulator.generate(index).truth]
    assert len(truths) == 60
    assert {t.label for t in truths} == set(xray_alt.THREAT_CLASSES)
    assert len({t.design for t in truths}) >= 9
    off_axis = [t for t in truths if 20 <= t.rotation_deg % 90 <= 70]
    assert len(off_axis) >= 15


def test_tobacco_is_light_and_a_pistol_heavy() -> None:
    rng = np.random.default_rng(1)
    packs = objects.cigarette_packs(rng)
    tobacco = [p for p in packs if p.material == "tobacco"]
    assert tobacco and all(0.2 <= p.density <= 0.3 for p in tobacco)
    pistol_metal = [p for p in objects.polymer_pistol(rng) if p.material in ("steel", "brass", "bullet")]
    assert len(pistol_metal) >= 6


def test_clean_bags_hold_no_truth_and_the_threat_rate_is_kept() -> None:
    simulator = xray_alt.AltXraySimulator(9, 128, 256, threat_rate=0.0)
    assert all(not simulator.generate(index).truth for index in range(5))
    with pytest.raises(ValueError, match="unknown threat"):
        simulator.generate(0, threat="grenade")


def test_quarter_turns_lay_threats_square_and_leave_the_default_bags_alone() -> None:
    square = xray_alt.AltXraySimulator(10, 192, 384, threat_rate=1.0, quarter_turns=True)
    assert all(t.rotation_deg % 90 == 0 for i in range(8) for t in square.generate(i).truth)
    plain = xray_alt.AltXraySimulator(10, 192, 384, threat_rate=1.0)
    assert square.generate(2, threat=None).image.tobytes() == plain.generate(2, threat=None).image.tobytes()


def test_a_threat_scan_holds_the_threat_alone_on_the_belt_on_its_bags_scanner(tmp_path: Path) -> None:
    from smartcustoms.plugins.xray.library import load_library_dir
    from smartcustoms.plugins.xray.tools import enrol_alt

    scan = xray_alt.threat_scan(3950, 7, "firearm")
    assert scan.scanner == xray_alt.AltXraySimulator(3950).generate(7).scanner  # the bag's own scanner
    assert scan.image.shape[1] == scan.image.shape[2] >= 256 and scan.image.dtype == np.uint16
    ((x0, y0, x1, y1),) = [t.box for t in scan.truth]
    lines = -np.log(np.maximum(scan.image[0].astype(np.float64), 0.5) / 65535)
    inside, outside = lines[y0:y1, x0:x1], np.concatenate([lines[:, :x0].ravel(), lines[:, x1:].ravel()])
    assert inside.max() > 2.0 and np.percentile(outside, 99) < 0.3  # metal in its box, belt around it
    assert xray_alt.threat_scan(3950, 7, "firearm").image.tobytes() == scan.image.tobytes()
    with pytest.raises(ValueError, match="unknown threat class 'dog'"):
        xray_alt.threat_scan(3950, 7, "dog")
    assert enrol_alt.main(["--seed", "3950", "--per-class", "1", "--out", str(tmp_path / "lib")]) == 0
    entries = load_library_dir(tmp_path / "lib")
    assert sorted(e.label for e in entries) == sorted(xray_alt.THREAT_CLASSES)
    assert all(e.calibration and e.calibration["metal_mu_high_per_cm"] > 0 for e in entries)
    assert len({e.pixel_size_mm for e in entries}) > 1  # each scan's own scanner and pixel size
