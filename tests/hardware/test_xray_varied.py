"""The varied X-ray training generator (``VariedXraySimulator``): its design families and its scans."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartcustoms.hardware.sim import _kernels as sim_kernels
from smartcustoms.hardware.sim import xray, xray_varied

SEEDS = range(50)
# the longest side of a threat's union extent, cm
EXTENT_CM = {"firearm": (10, 60), "knife": (8, 45), "phone": (5, 30), "cigarettes": (5, 60)}
DESIGNS = [(label, name) for label, designs in xray_varied.THREAT_DESIGNS.items() for name in designs]


def _check_parts(parts: list[xray._Part]) -> None:
    assert parts
    for part in parts:
        assert part.material in xray.MATERIALS
        sizes = (part.half_len_cm, part.half_wid_cm, part.u_cm, part.v_cm, part.angle_rad, part.taper_cm)
        assert all(math.isfinite(value) for value in sizes)
        assert part.half_len_cm > 0 and part.half_wid_cm > 0
        assert math.isfinite(part.thickness_cm) and part.thickness_cm != 0
    assert any(part.thickness_cm > 0 for part in parts)


def _longest_side(parts: list[xray._Part]) -> float:
    x0, y0, x1, y1 = xray._union_extent(parts)
    return max(x1 - x0, y1 - y0)


@pytest.mark.parametrize(("label", "design"), DESIGNS)
def test_every_design_makes_sound_parts_of_its_class_size(label: str, design: str) -> None:
    low, high = EXTENT_CM[label]
    for seed in SEEDS:
        parts = xray_varied.THREAT_DESIGNS[label][design](np.random.default_rng(seed))
        _check_parts(parts)
        assert low <= _longest_side(parts) <= high, (design, seed)


def test_each_class_has_its_designs_and_draws_them_all() -> None:
    assert tuple(xray_varied.THREAT_DESIGNS) == xray.THREAT_CLASSES
    minimum = {"firearm": 5, "knife": 5, "phone": 4, "cigarettes": 4}
    for label, family in xray_varied.VariedXraySimulator.threats.items():
        assert isinstance(family, xray_varied._Family)
        assert len(family.designs) >= minimum[label]
        drawn = {family.draw(np.random.default_rng(seed))[0] for seed in range(200)}
        assert drawn == set(family.designs), label


def test_cigarettes_stay_cellulose_rod_arrays_so_the_tobacco_density_applies() -> None:
    physics = xray.ScanPhysics(tobacco_density_g_cm3=0.25)
    for design in xray_varied.CIGARETTES.values():
        parts = design(np.random.default_rng(3))
        rods = [p for p in parts if p.profile == sim_kernels.PROFILE_ROD_ARRAY]
        assert rods and all(p.material == "cellulose" for p in rods)
        made = xray._as_made(parts, physics)
        assert len(made) == len(parts) + len(rods)  # each rod array split into its contrast and its mean


def test_clutter_makers_make_sound_parts_and_weights_sum_to_one() -> None:
    for name, (make, weight) in xray_varied.VARIED_CLUTTER.items():
        assert weight > 0
        for seed in range(20):
            parts = make(np.random.default_rng(seed))
            _check_parts(parts)
            assert 3 <= _longest_side(parts) <= 50, (name, seed)
    makers, weights = xray_varied.VariedXraySimulator.clutter
    assert len(makers) == len(weights) == len(xray._CLUTTER) + len(xray_varied.VARIED_CLUTTER)
    assert weights.sum() == pytest.approx(1.0) and np.all(weights > 0)
    assert set(xray._CLUTTER) <= set(makers)


def test_scans_box_their_threat_mask_and_are_deterministic() -> None:
    simulator = xray_varied.VariedXraySimulator(
        7, 512, 1024, randomise=True, threat_mask=True, threat_rate=1.0
    )
    labels = set()
    for index in range(12):
        scan = simulator.generate(index)
        assert scan.threat_mask is not None and len(scan.truth) == 1
        truth = scan.truth[0]
        labels.add(truth.label)
        x0, y0, x1, y1 = truth.box
        inside = int(np.count_nonzero(scan.threat_mask[y0:y1, x0:x1]))
        total = int(np.count_nonzero(scan.threat_mask))
        assert total > 0 and inside >= 0.95 * total
        assert set(np.unique(scan.threat_mask)) <= {0, 1 + xray.THREAT_CLASSES.index(truth.label)}
    assert len(labels) >= 3
    again = xray_varied.VariedXraySimulator(7, 512, 1024, randomise=True, threat_mask=True, threat_rate=1.0)
    first, second = simulator.generate(5), again.generate(5)
    assert np.array_equal(first.image, second.image) and first.truth == second.truth
    assert first.threat_mask is not None and second.threat_mask is not None
    assert np.array_equal(first.threat_mask, second.threat_mask)


def test_training_scans_draw_a_polychromatic_beam_and_scatter_in_their_ranges() -> None:
    drawn = [
        xray_varied.VariedXraySimulator(7, 64, 128).draw_physics(np.random.default_rng(k)) for k in range(200)
    ]
    hardened = [p.hardening for p in drawn if p.hardening is not None]
    assert 60 < len(hardened) < 140  # in about half the scans
    for channel in (share for pair in hardened for share in pair):
        assert 0.3 <= channel[0] <= 0.85 and 0.3 <= channel[1] <= 0.8
    scatters = [p.scatter for p in drawn]
    assert all(0.0 <= s <= 0.03 for s in scatters) and sum(s > 0 for s in scatters) > 120
    assert xray.XraySimulator(7, 64, 128).draw_physics(np.random.default_rng(0)).hardening is None
