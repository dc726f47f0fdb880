"""The X-ray simulator's randomised physics and any-angle threats (``XraySimulator(randomise=True)``)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from smartcustoms.hardware.sim import _kernels as sim_kernels
from smartcustoms.hardware.sim import xray

SMALL = {"height": 256, "width": 512}


def test_the_standard_scans_keep_the_standard_physics() -> None:
    scan = xray.XraySimulator(seed=3, **SMALL).generate(2, threat="knife")
    assert scan.physics == xray.STANDARD_PHYSICS
    assert scan.truth[0].rotation_deg % 90 == 0


def test_a_standard_scan_is_the_same_with_the_option_off() -> None:
    image = xray.XraySimulator(seed=3, **SMALL).generate(2, threat="knife").image
    other = xray.XraySimulator(seed=3, **SMALL, randomise=False).generate(2, threat="knife").image
    assert hashlib.sha256(image.tobytes()).hexdigest() == hashlib.sha256(other.tobytes()).hexdigest()
    # and what the scan was before randomised physics, threat masks and replaceable families existed
    # (commit 98945a0; within a grey level, as another CPU may round a float32 sum differently)
    values = image.astype(np.int64)
    row = [[60594, 60292, 60599, 53734, 23911], [59614, 59589, 60153, 51453, 19965]]
    assert np.abs(values[:, 128, 100:400:60] - np.array(row)).max() <= 1
    assert abs(int(values.sum()) - 13_913_389_529) <= 2 * values.size // 1000


def test_randomised_scans_draw_their_physics_within_the_ranges_and_turn_threats_by_any_angle() -> None:
    source = xray.XraySimulator(seed=3, **SMALL, randomise=True)
    scans = [source.generate(index, threat="firearm") for index in range(12)]
    for scan in scans:
        physics = scan.physics
        assert 65 <= physics.energies_kev[0] <= 95 and 42 <= physics.energies_kev[1] <= 58
        assert 1.0 <= physics.metal_scale <= 2.5
        assert physics.tobacco_density_g_cm3 is not None and 0.2 <= physics.tobacco_density_g_cm3 <= 0.35
        assert 0.2 <= physics.blur_px <= 1.2
    assert len({scan.physics.energies_kev for scan in scans}) == len(scans)
    assert sum(scan.truth[0].rotation_deg % 90 != 0 for scan in scans) >= 9


def test_a_randomised_scan_is_deterministic() -> None:
    first = xray.XraySimulator(seed=5, **SMALL, randomise=True).generate(4)
    second = xray.XraySimulator(seed=5, **SMALL, randomise=True).generate(4)
    assert np.array_equal(first.image, second.image) and first.physics == second.physics


def test_coefficients_at_the_tabulated_energies_are_the_table() -> None:
    steel = xray.MATERIALS["steel"]
    assert steel.mu_per_cm(xray.EFFECTIVE_ENERGY_HIGH_KEV) == pytest.approx(steel.mu_high_per_cm)
    assert steel.mu_per_cm(xray.EFFECTIVE_ENERGY_LOW_KEV) == pytest.approx(steel.mu_low_per_cm)
    assert steel.mu_per_cm(60.0) < steel.mu_per_cm(45.0)  # attenuation falls with energy


def test_threats_carry_the_scans_metal_mass_and_tobacco_density() -> None:
    physics = xray.ScanPhysics(metal_scale=2.0, tobacco_density_g_cm3=0.2)
    rng = np.random.default_rng(0)
    gun = xray._firearm(rng)
    made = xray._as_made(gun, physics)
    for before, after in zip(gun, made, strict=True):
        factor = 2.0 if before.material in ("steel", "copper") else 1.0
        assert after.thickness_cm == pytest.approx(before.thickness_cm * factor)
    cartons = xray._cigarettes(rng)
    rods = [p for p in cartons if p.profile == sim_kernels.PROFILE_ROD_ARRAY]
    made_rods = [p for p in xray._as_made(cartons, physics) if p.profile == sim_kernels.PROFILE_ROD_ARRAY]
    share = 0.2 / xray.STANDARD_ROD_DENSITY_G_CM3
    assert [p.thickness_cm for p in made_rods] == pytest.approx([p.thickness_cm * share for p in rods])
    mean_before = sum(p.thickness_cm * math.pi / 4 for p in rods)
    made = xray._as_made(cartons, physics)
    flat = [p for p in made if p not in cartons and p.profile != sim_kernels.PROFILE_ROD_ARRAY]
    mean_after = sum(p.thickness_cm * math.pi / 4 for p in made_rods) + sum(p.thickness_cm for p in flat)
    assert mean_after == pytest.approx(mean_before)  # the tobacco's mass stays, its contrast goes


def test_a_polychromatic_beam_and_scatter_make_thick_metal_read_thinner_and_cap_the_darkest_rays() -> None:
    lines = np.zeros((2, 8, 8), np.float32)
    lines[:, :, 4:] = np.array([2.0, 6.0], np.float32)[:, None, None]  # a block: 2 high, 6 low
    rng = np.random.default_rng(0)
    plain = xray._detector_response(lines, xray.STANDARD_PHYSICS, rng)
    assert plain is lines
    hard = xray.ScanPhysics(hardening=((0.5, 0.5), (0.5, 0.5)))
    hardened = xray._detector_response(lines, hard, rng)
    # -ln(0.5 e^-L + 0.5 e^-L/2): 1.38 for 2, 3.69 for 6; the air stays at 0
    assert hardened[0, 0, 6] == pytest.approx(-math.log(0.5 * math.exp(-2) + 0.5 * math.exp(-1)), rel=1e-5)
    assert hardened[1, 0, 6] == pytest.approx(-math.log(0.5 * math.exp(-6) + 0.5 * math.exp(-3)), rel=1e-5)
    assert hardened[1, 0, 6] / hardened[0, 0, 6] < 6.0 / 2.0  # the low/high ratio falls too
    assert np.allclose(hardened[:, :, :4], 0.0, atol=1e-6)
    scattered = xray._detector_response(lines, xray.ScanPhysics(scatter=0.01), rng)
    assert scattered[1, 0, 6] < -math.log(0.01) < 6.0  # no ray reads darker than the scatter allows
    assert np.allclose(scattered[:, :, :4], 0.0, atol=1e-6)
