"""The independent CT bag generator (``hardware.sim.ct_alt``): reproducible, its physics, its truth.

Most tests use small fields and coarse voxels (``small``) so a volume takes a fraction of a second. The
scanner, the bag and the threat come from separate random streams, so ``generate(i, threat=None)`` is
the bag of ``generate(i, threat=label)`` without the threat: comparing the two isolates the threat.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from smartcustoms.core.frames import inline_view
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sim import _ct_alt_objects as objects
from smartcustoms.hardware.sim import ct_alt
from smartcustoms.hardware.sim._ct_alt_physics import Volume, random_rotation, relative_attenuation

SMALL_FIELD_CM = (50.0, 30.0, 50.0)
SMALL_VOXELS = 600_000


def small(seed: int, threat_rate: float = 0.8) -> ct_alt.AltCtSimulator:
    """A simulator of small bags in coarse voxels: a volume in a fraction of a second."""
    return ct_alt.AltCtSimulator.with_field(
        seed, SMALL_FIELD_CM, threat_rate=threat_rate, max_voxels=SMALL_VOXELS
    )


def pair(seed: int, index: int, label: str) -> tuple[ct_alt.AltCtScan, ct_alt.AltCtScan]:
    """The scan with a threat of class ``label`` and the same bag without it."""
    simulator = small(seed)
    return simulator.generate(index, threat=label), simulator.generate(index, threat=None)


def in_box(volume: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
    z0, y0, x0, z1, y1, x1 = box
    return volume[z0:z1, y0:y1, x0:x1].astype(np.int32)


def new_voxels(label: str, seed: int, index: int, low: float, high: float) -> tuple[np.ndarray, float]:
    """Coordinates (in the box) of voxels in [low, high] MHU with the threat and not without it, and the
    voxel's volume in cm^3."""
    scan, clean = pair(seed, index, label)
    [truth] = scan.truth
    assert truth.label == label and clean.truth == ()
    with_threat, without = in_box(scan.volume, truth.box), in_box(clean.volume, truth.box)
    inside = (with_threat >= low) & (with_threat <= high)
    before = (without >= low) & (without <= high)
    return np.argwhere(inside & ~before), (scan.voxel_size_mm / 10) ** 3


def test_same_seed_and_index_give_identical_scans_and_others_differ() -> None:
    first = small(4).generate(2)
    again = small(4).generate(2)
    assert first.volume.tobytes() == again.volume.tobytes()
    assert first.truth == again.truth and first.scanner == again.scanner
    other_index = small(4).generate(3)
    other_seed = small(5).generate(2)
    for other in (other_index, other_seed):
        assert other.scanner != first.scanner
        assert other.volume.shape != first.volume.shape or other.volume.tobytes() != first.volume.tobytes()


def test_a_scan_is_a_read_only_uint16_volume_in_mhu() -> None:
    scan = small(1).generate(0, threat=None)
    volume = scan.volume
    assert volume.dtype == np.uint16 and volume.ndim == 3 and not volume.flags.writeable
    assert volume.size <= SMALL_VOXELS
    with pytest.raises(ValueError):
        volume[0, 0, 0] = 1
    assert scan.truth == ()
    assert np.median(volume[:, :2]) < 150  # air above the bag
    belt_rows = volume[:, -8:].mean(axis=(0, 2))
    assert belt_rows.max() > 700  # the rubber belt near the bottom rows (high row index)


def test_clean_bags_have_no_truth_and_auto_follows_the_threat_rate() -> None:
    never = small(3, 0.0)
    always = small(3, 1.0)
    assert all(never.generate(i).truth == () for i in range(3))
    labels = [always.generate(i).truth[0].label for i in range(3)]
    assert set(labels) <= set(ct_alt.THREAT_CLASSES)


def test_every_class_has_its_truth_box_inside_the_volume() -> None:
    simulator = small(8)
    designs = set()
    for index, label in enumerate(ct_alt.THREAT_CLASSES * 2):
        scan = simulator.generate(index, threat=label)
        [truth] = scan.truth
        z0, y0, x0, z1, y1, x1 = truth.box
        assert truth.label == label and truth.design
        assert 0 <= z0 < z1 <= scan.volume.shape[0]
        assert 0 <= y0 < y1 <= scan.volume.shape[1]
        assert 0 <= x0 < x1 <= scan.volume.shape[2]
        designs.add(truth.design)
    assert len(designs) >= 5


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_firearm_brings_metal_above_4000_mhu(index: int) -> None:
    metal, voxel_cm3 = new_voxels("firearm", 21, index, 4000, 65535)
    assert len(metal) * voxel_cm3 > 5  # cm^3 of steel at least (slide, barrel, cylinder, receiver)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_an_explosive_brings_a_region_at_explosive_density(index: int) -> None:
    # 1.30-1.75 g/cm^3 of an RDX-like explosive reads some 1270-1700 MHU at 60-90 keV
    found, voxel_cm3 = new_voxels("explosive", 22, index, 1150, 1850)
    assert len(found) * voxel_cm3 > 40


@pytest.mark.parametrize("index", [0, 1])
def test_cigarettes_bring_a_large_region_at_150_to_400_mhu(index: int) -> None:
    found, voxel_cm3 = new_voxels("cigarettes", 23, index, 150, 400)
    assert len(found) * voxel_cm3 > 50  # at least half a pack (106 cm^3) reads as tobacco


def test_knives_lie_at_random_angles() -> None:
    axes = []
    for index in range(5):
        metal, _ = new_voxels("knife", 24, index, 3000, 65535)
        assert len(metal) >= 8
        centred = metal - metal.mean(axis=0)
        _, _, vt = np.linalg.svd(centred.astype(float), full_matrices=False)
        axes.append(vt[0])
    tilted = [np.abs(axis).max() < 0.95 for axis in axes]
    assert sum(tilted) >= 2  # not along the volume's axes
    angles = [np.degrees(np.arccos(min(1.0, abs(float(a @ b))))) for a in axes for b in axes]
    assert max(angles) > 30


def test_metal_makes_streaks_in_its_slices() -> None:
    for index in range(3):
        scan, clean = pair(25, index, "firearm")
        z0, _, _, z1, _, _ = scan.truth[0].box
        metal_slices = [z for z in range(z0, z1) if scan.volume[z].max() > 4500]
        far = [z for z in range(scan.volume.shape[0]) if z < z0 - 6 or z >= z1 + 6]
        assert metal_slices
        added = [np.abs(_air(scan, z) - _air(clean, z)).mean() for z in metal_slices]
        assert np.median(added) > 5  # MHU of streaks in the air above the bag
        assert np.mean([np.abs(_air(scan, z) - _air(clean, z)).mean() for z in far]) < np.median(added) / 3


def _air(scan: ct_alt.AltCtScan, z: int) -> np.ndarray:
    """The top rows of slice ``z``: air above the bag."""
    return scan.volume[z, :3].astype(np.float64)


def test_every_scan_draws_its_own_scanner_within_the_ranges() -> None:
    simulator = small(2)
    scanners = [simulator.generate(index, threat=None).scanner for index in range(6)]
    ranges = {
        "energy_kev": (60, 90),
        "psf_sigma_inplane_voxels": (0.4, 0.9),
        "psf_sigma_depth_voxels": (0.3, 0.8),
        "noise_std_mhu": (15, 60),
        "cupping_mhu": (0, 40),
        "calibration_scale": (0.97, 1.03),
        "calibration_offset_mhu": (-20, 20),
    }
    for name, (low, high) in ranges.items():
        values = [s[name] for s in scanners]
        assert all(low <= v <= high for v in values), name
        assert len(set(values)) == len(values), name
    assert {s["clamp_mhu"] for s in scanners} <= {5095.0, 16383.0, 30000.0}
    assert all(s["voxel_size_mm"] >= 2.5 for s in scanners)


def test_at_the_defaults_voxels_are_2_5_to_4_mm_and_the_volume_fits() -> None:
    scan = ct_alt.AltCtSimulator(6).generate(0, threat="knife")
    assert 2.5 <= scan.voxel_size_mm <= 4.0 * 1.05
    assert scan.volume.size <= 9_000_000
    depth, height, width = (n * scan.voxel_size_mm / 10 for n in scan.volume.shape)
    assert depth <= 84 and height <= 42 and width <= 63  # cm: the field of view, a multiple of 4 voxels


def test_steel_reads_as_its_attenuation_says() -> None:
    steel = 1000 * relative_attenuation("steel", 7.85, 70)
    water = 1000 * relative_attenuation("water", 1.0, 70)
    assert water == pytest.approx(1000)
    assert 25_000 < steel < 40_000  # 7.85 g/cm^3 x 0.86 cm^2/g over water's 0.194 cm^2/g
    # RDX and PETN at 80 keV: 0.169 cm^2/g (NIST's element values mixed), water 0.1837
    assert relative_attenuation("explosive", 1.6, 80) == pytest.approx(1.6 * 0.169 / 0.1837, rel=0.01)


def test_to_frame_round_trips_the_volume_and_the_truth() -> None:
    scan = small(1).generate(0, threat="explosive")
    frame = ct_alt.to_frame(scan, source_id="ct-lane-2", sequence=7, frame_id="f-1")
    view = inline_view(frame)
    assert view.modality == Modality.CT and view.frame_id == "f-1" and view.source_id == "ct-lane-2"
    assert np.array_equal(view.array(), scan.volume)
    meta = view.metadata
    assert float(meta["voxel_size_mm"]) == pytest.approx(scan.voxel_size_mm, abs=1e-4)
    assert meta["axes"] == "depth,height,width" and meta["units"] == "MHU"
    assert meta["rescale_slope"] == "1" and meta["rescale_intercept"] == "-1000"
    assert meta["generator"] == "ct_alt"
    [truth] = json.loads(meta["sim_truth"])
    assert truth == {"label": "explosive", "box": list(scan.truth[0].box), "design": scan.truth[0].design}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ct_alt.AltCtSimulator(-1), "seed"),
        (lambda: ct_alt.AltCtSimulator(0, threat_rate=1.5), "threat_rate"),
        (lambda: ct_alt.AltCtSimulator(0, threat_rate=-0.1), "threat_rate"),
        (lambda: ct_alt.AltCtSimulator(0).generate(-1), "index"),
        (lambda: ct_alt.AltCtSimulator(0).generate(0, threat="bomb"), "unknown threat"),
        (lambda: ct_alt.AltCtSimulator(0, max_voxels=100), "max_voxels"),
        (lambda: ct_alt.AltCtSimulator.with_field(0, (10.0, 10.0, 10.0)), "field_cm"),
        (lambda: ct_alt.AltCtSimulator(0).generate(True), "index"),
    ],
)
def test_invalid_arguments_raise_value_error(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("voxel_mm", [2.5, 3.0, 4.0])
def test_a_pack_of_rods_at_any_angle_holds_its_true_mass(voxel_mm: float) -> None:
    """Partial volume: touching rods, thin walls and liners add their true mass, never less or more."""
    rng = np.random.default_rng(11)
    voxel_cm = voxel_mm / 10
    painted = []
    for _ in range(6):
        volume = Volume((48, 48, 48), voxel_cm, 70.0)
        centre = np.full(3, 24 * voxel_cm)
        for prim in objects.moved(objects._pack(rng, 0.24, air_inside=False), random_rotation(rng), centre):
            volume.paint(prim)
        painted.append(float(volume.mu.sum()) * voxel_cm**3)
    lattice = 0.78, 0.675, 0.39  # 20 rods of 8.3 cm at 0.254 / 0.09-0.12 g/cm3 (tobacco, filter)
    rods = 20 * np.pi * lattice[2] ** 2
    tobacco = relative_attenuation("cellulose", 0.254, 70.0)
    walls = 2 * sum(a * b for a, b in ((8.8, 5.5), (8.8, 2.2), (5.5, 2.2))) * 0.036
    low = rods * (tobacco * (8.3 - 2.6) + relative_attenuation("cellulose", 0.09, 70.0) * 2.6)
    high = rods * (tobacco * (8.3 - 2.0) + relative_attenuation("cellulose", 0.12, 70.0) * 2.0)
    wall = walls * relative_attenuation("pack_wall", 0.75, 70.0)
    assert (low + wall) * 0.97 <= np.mean(painted) <= (high + wall) * 1.03


def test_rotations_are_uniform() -> None:
    rng = np.random.default_rng(5)
    turns = np.array([random_rotation(rng) for _ in range(4000)])
    assert np.allclose(turns @ turns.transpose(0, 2, 1), np.eye(3), atol=1e-9)  # proper rotations
    assert np.allclose(np.linalg.det(turns), 1.0)
    assert np.abs(turns.mean(axis=0)).max() < 0.05  # no preferred direction
    assert np.abs((turns**2).mean(axis=0) - 1 / 3).max() < 0.03  # each axis anywhere, equally
