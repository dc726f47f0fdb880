"""CT baggage simulator: determinism, densities, 3D threat truth, projections and frames."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from smartcustoms.hardware.sim import ct
from smartcustoms.v1 import frame_pb2

SMALL = {"shape": (128, 64, 96), "voxel_mm": 6.0}  # the default field of view at half resolution
TINY = {"shape": (32, 16, 24), "voxel_mm": 24.0}


@pytest.fixture(scope="module")
def sim() -> ct.CtSimulator:
    return ct.CtSimulator(seed=3, **SMALL)


def test_volume_shape_dtype_and_voxel_size() -> None:
    scan = ct.CtSimulator(seed=1).generate(0)
    assert scan.volume.shape == ct.DEFAULT_SHAPE == (256, 128, 192)
    assert scan.volume.dtype == np.uint16
    assert scan.voxel_size_mm == ct.DEFAULT_VOXEL_MM
    assert not scan.volume.flags.writeable


def test_same_seed_and_index_give_identical_volumes() -> None:
    first = ct.CtSimulator(seed=7, threat_rate=1.0, **SMALL).generate(2)
    second = ct.CtSimulator(seed=7, threat_rate=1.0, **SMALL).generate(2)
    assert first.volume.tobytes() == second.volume.tobytes() and first.truth == second.truth
    assert not np.array_equal(first.volume, ct.CtSimulator(seed=8, **SMALL).generate(2).volume)
    assert not np.array_equal(first.volume, ct.CtSimulator(seed=7, **SMALL).generate(3).volume)


def test_air_belt_and_bag_have_plausible_densities(sim: ct.CtSimulator) -> None:
    volume = sim.generate(0, threat=None).volume.astype(float)
    assert np.median(volume[:, :4, :]) < 60  # air above the bag, only noise
    assert np.median(volume[:, -1, :]) == pytest.approx(ct.DENSITY_MHU["rubber"], abs=100)  # the belt
    assert (volume[:, :-2, :] > 100).mean() > 0.02  # there is a bag with contents


@pytest.mark.parametrize("label", ct.THREAT_CLASSES)
def test_threat_changes_the_volume_only_inside_its_box(sim: ct.CtSimulator, label: str) -> None:
    for index in range(3):
        with_threat = sim.generate(index, threat=label)
        without = sim.generate(index, threat=None).volume
        (truth,) = with_threat.truth
        assert truth.label == label
        z0, y0, x0, z1, y1, x1 = truth.box
        assert all(
            0 <= lo < hi <= n for lo, hi, n in zip(truth.box[:3], truth.box[3:], SMALL["shape"], strict=True)
        )
        outside = np.ones(without.shape, dtype=bool)
        outside[z0:z1, y0:y1, x0:x1] = False
        assert np.array_equal(with_threat.volume[outside], without[outside])
        inside = with_threat.volume[z0:z1, y0:y1, x0:x1].astype(float)
        changed = np.abs(inside - without[z0:z1, y0:y1, x0:x1]) > 100
        assert changed.sum() >= 10, (label, index)


def test_threats_have_their_materials(sim: ct.CtSimulator) -> None:
    def inside(label: str, index: int) -> np.ndarray:
        scan = sim.generate(index, threat=label)
        z0, y0, x0, z1, y1, x1 = scan.truth[0].box
        return scan.volume[z0:z1, y0:y1, x0:x1].astype(float)

    for metal in ("firearm", "knife"):
        assert inside(metal, 0).max() > 5000
    explosive = inside("explosive", 1)
    assert ((explosive > 1300) & (explosive < 1900)).sum() > 50  # a dense organic block
    cigarettes = inside("cigarettes", 2)
    assert ((cigarettes > 250) & (cigarettes < 420)).sum() > 100  # tobacco


def test_threat_rate_is_roughly_as_configured() -> None:
    simulator = ct.CtSimulator(seed=5, threat_rate=0.3, **TINY)
    scans = [simulator.generate(index) for index in range(200)]
    with_threat = [scan.truth[0].label for scan in scans if scan.truth]
    assert 40 <= len(with_threat) <= 80
    assert set(with_threat) == set(ct.THREAT_CLASSES)


def test_projection_sums_or_takes_the_maximum() -> None:
    volume = np.zeros((4, 5, 6), dtype=np.uint16)
    volume[1, 2, 3] = 1000
    volume[2, 2, 3] = 3000
    summed = ct.projection(volume, 0, voxel_mm=10.0)
    assert summed.shape == (5, 6) and summed.dtype == np.float32
    assert summed[2, 3] == pytest.approx(4.0)  # 4000 MHU voxels of 1 cm: 4 cm of water
    assert ct.projection(volume, 1, mode="max").shape == (4, 6)
    assert ct.projection(volume, 2, mode="max")[2, 2] == 3000
    radiograph = ct.radiograph(volume, 0, voxel_mm=10.0)
    assert radiograph.dtype == np.uint16 and radiograph[0, 0] == 65535
    assert radiograph[2, 3] == round(65535 * math.exp(-ct.WATER_MU_PER_CM * 4.0))
    with pytest.raises(ValueError):
        ct.projection(volume, 3)
    with pytest.raises(ValueError):
        ct.projection(volume, 0, mode="mean")


def test_projected_box_holds_the_projected_threat(sim: ct.CtSimulator) -> None:
    scan = sim.generate(4, threat="knife")
    clean = sim.generate(4, threat=None)
    for axis in (0, 1, 2):
        x0, y0, x1, y1 = ct.project_box(scan.truth[0].box, axis)
        difference = np.abs(
            ct.projection(scan.volume, axis, voxel_mm=6.0) - ct.projection(clean.volume, axis, voxel_mm=6.0)
        )
        outside = np.ones(difference.shape, dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert difference[outside].max() == 0
        assert difference[y0:y1, x0:x1].max() > 0.5


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        ct.CtSimulator(seed=-1)
    with pytest.raises(ValueError):
        ct.CtSimulator(seed=1, shape=(8, 8, 8))
    with pytest.raises(ValueError):
        ct.CtSimulator(seed=1, **TINY).generate(0, threat="grenade")


def test_frame_carries_the_volume_and_truth(sim: ct.CtSimulator) -> None:
    scan = sim.generate(1, threat="explosive")
    frame = ct.to_frame(scan, source_id="ct-1", sequence=3, conveyance_id="bag-9")
    assert frame.modality == frame_pb2.MODALITY_CT
    assert list(frame.shape) == list(SMALL["shape"])
    assert frame.dtype == frame_pb2.DTYPE_UINT16 and frame.encoding == "raw"
    assert len(frame.payload) == math.prod(frame.shape) * 2 == frame.payload_bytes
    assert np.array_equal(np.frombuffer(frame.payload, "<u2").reshape(SMALL["shape"]), scan.volume)
    assert frame.metadata["rescale_intercept"] == "-1000"
    (truth,) = json.loads(frame.metadata["sim_truth"])
    assert truth == {"label": "explosive", "box": list(scan.truth[0].box)}
