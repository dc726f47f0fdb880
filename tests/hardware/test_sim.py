"""Device simulators: determinism, shapes, physics sanity, SGTIN-96 coding and frame packing."""

from __future__ import annotations

import itertools
import json
import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from smartcustoms.core.epc import decode_epc96
from smartcustoms.hardware.sim import records, rfid, xray
from smartcustoms.v1 import frame_pb2

SMALL = {"height": 128, "width": 256}


@pytest.fixture(scope="module")
def sim() -> xray.XraySimulator:
    return xray.XraySimulator(seed=3, height=256, width=512)


def threat_effect(sim: xray.XraySimulator, index: int, label: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Images of one scan with and without the threat, and the threat's box."""
    with_threat = sim.generate(index, threat=label)
    without = sim.generate(index, threat=None)
    return with_threat.image, without.image, with_threat.truth[0].box


def low_high_ratio(sim: xray.XraySimulator, index: int, label: str) -> float:
    """Low/high attenuation ratio of a threat: its log intensity drop against the scan without it."""
    with_threat, without, (x0, y0, x1, y1) = threat_effect(sim, index, label)
    inside = with_threat[:, y0:y1, x0:x1].astype(float)
    background = without[:, y0:y1, x0:x1].astype(float)
    unsaturated = (inside > 300).all(axis=0)
    drop = np.log(np.maximum(background, 1.0) / np.maximum(inside, 1.0))
    pixels = unsaturated & (drop[0] > 0.05)
    assert pixels.sum() > 50
    return float(drop[1][pixels].sum() / drop[0][pixels].sum())


# --------------------------------------------------------------------------- X-ray


def test_xray_scan_shape_and_dtype() -> None:
    scan = xray.XraySimulator(seed=1).generate(0)
    assert scan.image.shape == (2, 1024, 2048)
    assert scan.image.dtype == np.uint16
    assert scan.materials is None
    assert scan.pixel_size_mm == pytest.approx(800 / 1024)


def test_xray_same_seed_and_index_give_identical_bytes() -> None:
    first = xray.XraySimulator(seed=7, **SMALL).generate(5)
    second = xray.XraySimulator(seed=7, **SMALL).generate(5)
    assert first.image.tobytes() == second.image.tobytes()
    assert first.truth == second.truth


def test_xray_different_seed_or_index_gives_different_scan() -> None:
    reference = xray.XraySimulator(seed=7, **SMALL).generate(5).image
    assert not np.array_equal(reference, xray.XraySimulator(seed=8, **SMALL).generate(5).image)
    assert not np.array_equal(reference, xray.XraySimulator(seed=7, **SMALL).generate(6).image)


def test_transmission_follows_beer_lambert_without_noise() -> None:
    line_integral = np.array([0.0, 0.5, 1.0, 2.0, 4.0], dtype=np.float32).reshape(1, 1, 5)
    image = xray.transmission_image(line_integral)
    expected = np.round(65535 * np.exp(-line_integral.astype(float)))
    assert np.abs(image.astype(int) - expected).max() <= 1
    assert np.all(np.diff(image[0, 0].astype(int)) < 0)  # more material, lower intensity


def test_transmission_noise_scales_with_photon_count() -> None:
    flat = np.full((2, 64, 64), 0.5, dtype=np.float32)
    image = xray.transmission_image(flat, photons_per_pixel=(1e4, 1e2), noise_seed=1).astype(float) / 65535
    expected_sigma = np.sqrt(math.exp(-0.5) / np.array([1e4, 1e2]))
    assert image.std(axis=(1, 2)) == pytest.approx(expected_sigma, rel=0.1)
    assert image.mean(axis=(1, 2)) == pytest.approx([math.exp(-0.5)] * 2, rel=0.01)


def test_transmission_image_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        xray.transmission_image(np.zeros((2, 4, 4)))  # float64
    with pytest.raises(ValueError):
        xray.transmission_image(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError):
        xray.transmission_image(np.zeros((2, 4, 4), dtype=np.float32), photons_per_pixel=(1.0,))


def test_empty_belt_transmits_through_the_belt_only() -> None:
    scan = xray.XraySimulator(seed=2, photons_per_pixel=None, **SMALL).generate(0)
    belt = xray.MATERIALS["polymer"]
    for channel, mu in enumerate((belt.mu_high_per_cm, belt.mu_low_per_cm)):
        assert scan.image[channel, 0, 0] == round(65535 * math.exp(-mu * xray.BELT_THICKNESS_CM))
    assert scan.image[0, 0, 0] > scan.image[1, 0, 0]  # low energy is attenuated more


def test_material_ratios_separate_organic_inorganic_metal() -> None:
    ratios = {
        category: [m.low_high_ratio for m in xray.MATERIALS.values() if m.category == category]
        for category in xray.MATERIAL_CATEGORIES
    }
    assert all(1.1 < r < 1.3 for r in ratios["organic"])
    assert max(ratios["organic"]) < min(ratios["inorganic"])
    assert max(ratios["inorganic"]) < min(ratios["metal"])


def test_threat_lowers_intensity_only_inside_its_box(sim: xray.XraySimulator) -> None:
    for label in xray.THREAT_CLASSES:
        with_threat, without, (x0, y0, x1, y1) = threat_effect(sim, 1, label)
        outside = np.ones(with_threat.shape[1:], dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(with_threat[:, outside], without[:, outside]), label
        inside_with = with_threat[:, y0:y1, x0:x1].astype(float)
        inside_without = without[:, y0:y1, x0:x1].astype(float)
        assert (inside_with != inside_without).any(axis=0).mean() > 0.2, label
        assert inside_with.mean() < inside_without.mean(), label


@pytest.mark.parametrize("index", [0, 1])
def test_metal_attenuates_low_energy_relatively_more_than_organic(
    sim: xray.XraySimulator, index: int
) -> None:
    organic = low_high_ratio(sim, index, "cigarettes")
    assert organic == pytest.approx(xray.MATERIALS["cellulose"].low_high_ratio, abs=0.05)
    for metal_bearing in ("knife", "phone"):
        assert low_high_ratio(sim, index, metal_bearing) > organic + 0.5


def test_truth_boxes_lie_within_the_image() -> None:
    simulator = xray.XraySimulator(seed=4, threat_rate=1.0, **SMALL)
    for index in range(40):
        (truth,) = simulator.generate(index).truth
        x0, y0, x1, y1 = truth.box
        assert truth.label in xray.THREAT_CLASSES
        assert 0 <= x0 < x1 <= SMALL["width"]
        assert 0 <= y0 < y1 <= SMALL["height"]
        assert truth.rotation_deg in (0, 90, 180, 270)


def test_threat_rate_is_roughly_as_configured() -> None:
    simulator = xray.XraySimulator(seed=5, threat_rate=0.3, height=64, width=128)
    scans = [simulator.generate(index) for index in range(200)]
    with_threat = sum(1 for scan in scans if scan.truth)
    assert 40 <= with_threat <= 80
    assert {scan.truth[0].label for scan in scans if scan.truth} == set(xray.THREAT_CLASSES)
    assert not xray.XraySimulator(seed=5, threat_rate=0.0, height=64, width=128).generate(0).truth


def test_generate_rejects_unknown_threat_and_negative_index(sim: xray.XraySimulator) -> None:
    with pytest.raises(ValueError):
        sim.generate(0, threat="bazooka")
    with pytest.raises(ValueError):
        sim.generate(-1)


def test_material_map_marks_metal_in_a_knife() -> None:
    simulator = xray.XraySimulator(seed=3, height=256, width=512, material_map=True)
    scan = simulator.generate(0, threat="knife")
    assert scan.materials is not None
    assert scan.materials.shape == (256, 512)
    assert scan.materials.dtype == np.uint8
    assert scan.materials[0, 0] == 0  # empty belt
    x0, y0, x1, y1 = scan.truth[0].box
    metal = 1 + xray.MATERIAL_CATEGORIES.index("metal")
    assert (scan.materials[y0:y1, x0:x1] == metal).any()


def test_xray_frame_carries_raw_little_endian_image_and_truth(sim: xray.XraySimulator) -> None:
    scan = sim.generate(2, threat="phone")
    frame = xray.to_frame(scan, source_id="lane-1-xray", sequence=9, conveyance_id="bag-42")
    assert frame.modality == frame_pb2.MODALITY_XRAY
    assert list(frame.shape) == [2, 256, 512]
    assert frame.dtype == frame_pb2.DTYPE_UINT16
    assert frame.encoding == "raw"
    assert len(frame.payload) == math.prod(frame.shape) * np.dtype(np.uint16).itemsize == frame.payload_bytes
    decoded = np.frombuffer(frame.payload, dtype="<u2").reshape(tuple(frame.shape))
    assert np.array_equal(decoded, scan.image)
    assert frame.metadata["energy_high_kev"] == "160"
    assert frame.metadata["energy_low_kev"] == "80"
    (truth,) = json.loads(frame.metadata["sim_truth"])
    assert truth["label"] == "phone"
    assert tuple(truth["box"]) == scan.truth[0].box
    assert (frame.source_id, frame.sequence, frame.conveyance_id) == ("lane-1-xray", 9, "bag-42")
    assert frame.frame_id and frame.capture_time.seconds > 0
    assert xray.to_frame(scan, source_id="s", sequence=1, frame_id="f-1").frame_id == "f-1"


# --------------------------------------------------------------------------- SGTIN-96


def test_sgtin96_matches_the_gs1_tag_data_standard_example() -> None:
    # TDS example: urn:epc:tag:sgtin-96:3.0614141.812345.6789 = 3074257BF7194E4000001A85
    assert rfid.encode_sgtin96("0614141", "812345", 6789, filter_value=3) == "3074257BF7194E4000001A85"
    decoded = rfid.decode_sgtin96("3074257BF7194E4000001A85")
    assert decoded["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
    assert decoded["tag_uri"] == "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    assert decoded["gtin"] == "80614141123458"
    assert (decoded["filter"], decoded["partition"]) == (3, 5)


def test_sgtin96_round_trip_of_the_0614141_112345_400_tag() -> None:
    epc = rfid.encode_sgtin96("0614141", "112345", 400, filter_value=3)
    assert len(epc) == 24 and epc.startswith("3074257BF")
    decoded = rfid.decode_sgtin96(epc)
    assert decoded["uri"] == "urn:epc:id:sgtin:0614141.112345.400"
    assert decoded["serial"] == 400


@pytest.mark.parametrize("prefix_digits", range(6, 13))
def test_sgtin96_round_trips_in_every_partition(prefix_digits: int) -> None:
    rng = np.random.default_rng(prefix_digits)
    for _ in range(20):
        prefix = "".join(str(d) for d in rng.integers(0, 10, prefix_digits))
        item = "".join(str(d) for d in rng.integers(0, 10, 13 - prefix_digits))
        serial, filter_value = int(rng.integers(0, 2**38)), int(rng.integers(0, 8))
        decoded = rfid.decode_sgtin96(rfid.encode_sgtin96(prefix, item, serial, filter_value=filter_value))
        assert (decoded["company_prefix"], decoded["item_reference"]) == (prefix, item)
        assert (decoded["serial"], decoded["filter"]) == (serial, filter_value)
    edge = rfid.encode_sgtin96("0" * prefix_digits, "0" * (13 - prefix_digits), 2**38 - 1)
    assert rfid.decode_sgtin96(edge)["serial"] == 2**38 - 1


def test_the_simulators_sgtin_dict_agrees_with_the_gs1_codec() -> None:
    simulator = rfid.RfidSimulator(seed=5, tag_count=50)
    for epc_hex in simulator.epcs:
        decoded, fields = decode_epc96(epc_hex), rfid.decode_sgtin96(epc_hex)
        assert (decoded.pure_identity_uri, decoded.tag_uri, decoded.gtin) == (
            fields["uri"],
            fields["tag_uri"],
            fields["gtin"],
        )


def test_the_simulators_sgtin_decoder_takes_only_sgtin() -> None:
    with pytest.raises(ValueError, match="0x33 is not SGTIN-96"):
        rfid.decode_sgtin96("33B4257BF40C0E4000000190")  # a well-formed GRAI-96


def test_sgtin96_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        rfid.encode_sgtin96("0614141", "12345", 1)  # item reference one digit short
    with pytest.raises(ValueError):
        rfid.encode_sgtin96("0614141", "112345", 2**38)
    with pytest.raises(ValueError):
        rfid.decode_sgtin96("3574257BF7194E4000001A85")  # SGTIN-198 header
    with pytest.raises(ValueError):
        rfid.decode_sgtin96("3074257BF7194E40")


# --------------------------------------------------------------------------- RFID


def test_rfid_reports_are_deterministic() -> None:
    first = rfid.RfidSimulator(seed=11).report(3).SerializeToString()
    assert first == rfid.RfidSimulator(seed=11).report(3).SerializeToString()
    assert first != rfid.RfidSimulator(seed=12).report(3).SerializeToString()


def test_rfid_reads_are_plausible() -> None:
    simulator = rfid.RfidSimulator(seed=11, tag_count=400)
    population = set(simulator.epcs)
    full_reports = 0
    for index in range(8):
        batch = simulator.report(index, reads=150)
        zone = simulator.zones[index % len(simulator.zones)]
        assert batch.zone == zone and batch.reader_id == f"reader-{zone}"
        assert 0 < len(batch.reads) <= 150
        full_reports += len(batch.reads) == 150
        pairs = [(read.epc_hex, read.antenna_id) for read in batch.reads]
        assert len(set(pairs)) == len(pairs)
        for read in batch.reads:
            assert read.epc_hex in population
            assert rfid.decode_sgtin96(read.epc_hex)["filter"] == 1
            assert 1 <= read.antenna_id <= 4
            assert -80 <= read.rssi_dbm <= -30
            assert read.seen_count >= 1
            assert read.first_seen.ToNanoseconds() <= read.last_seen.ToNanoseconds()
    assert full_reports > 0


def test_rssi_falls_with_distance() -> None:
    distances = [0.5, 1.0, 2.0, 4.0, 8.0]
    rssi = [rfid.rssi_dbm_at(d) for d in distances]
    assert rssi[0] == pytest.approx(-30.0)
    assert all(a > b for a, b in itertools.pairwise(rssi))
    assert rssi[-1] > -80


def test_rfid_items_pass_intake_storage_release_in_order() -> None:
    simulator = rfid.RfidSimulator(seed=2, tag_count=50)
    zones = np.stack([simulator.zone_of_tags(r) for r in range(rfid.CYCLE_ROUNDS * 2)], axis=1)
    last = len(simulator.zones) - 1
    for path in zones:
        visits = [int(z) for z in path if z >= 0]
        for before, after in itertools.pairwise(visits):
            assert (before, after) in {(0, 1), (0, 2), (1, 1), (2, 2), (1, last), (2, last), (last, 0)}


def test_rfid_frame_wraps_the_serialized_batch() -> None:
    batch = rfid.RfidSimulator(seed=1).report(1)
    frame = rfid.to_frame(batch, source_id="vault-a-reader", sequence=4)
    assert frame.modality == frame_pb2.MODALITY_RFID
    assert frame.encoding == "protobuf"
    assert frame.dtype == frame_pb2.DTYPE_UNSPECIFIED
    assert list(frame.shape) == []
    assert frame.payload_bytes == len(frame.payload)
    assert frame_pb2.RfidReadBatch.FromString(frame.payload) == batch


# --------------------------------------------------------------------------- cargo declarations

FIELDS = {
    "declared_at", "hs_code", "description", "declared_value_hkd", "weight_kg", "quantity", "unit", "origin",
    "importer", "declarant", "route", "illicit", "illicit_pattern", "duty_at_stake_hkd",
}  # fmt: skip


def test_declarations_are_deterministic() -> None:
    first = records.CargoDeclarationSimulator(seed=5).batch(2).SerializeToString()
    assert first == records.CargoDeclarationSimulator(seed=5).batch(2).SerializeToString()
    assert first != records.CargoDeclarationSimulator(seed=6).batch(2).SerializeToString()
    assert first != records.CargoDeclarationSimulator(seed=5).batch(3).SerializeToString()


def test_declaration_fields_are_well_formed() -> None:
    batch = records.CargoDeclarationSimulator(seed=5).batch(0, size=300)
    assert len(batch.records) == 300
    assert len({r.record_id for r in batch.records}) == 300
    for record in batch.records:
        fields = record.fields
        assert record.kind == "cargo_declaration"
        assert set(fields) == FIELDS
        assert len(fields["hs_code"]) == 8 and fields["hs_code"].isdigit()
        assert float(fields["declared_value_hkd"]) > 0 and float(fields["weight_kg"]) > 0
        assert int(fields["quantity"]) >= 1
        assert fields["route"].endswith(("HK-KWC", "HK-HKG", "HK-LMC"))
        assert fields["illicit"] in {"0", "1"}
        assert (fields["illicit"] == "1") == (fields["illicit_pattern"] in records.ILLICIT_PATTERNS)
    times = [datetime.fromisoformat(r.fields["declared_at"]) for r in batch.records]
    assert times == sorted(times) and all(t.utcoffset() == timedelta(hours=8) for t in times)


def test_illicit_rate_is_roughly_as_configured() -> None:
    simulator = records.CargoDeclarationSimulator(seed=9, illicit_rate=0.03)
    flags = [r.fields["illicit"] == "1" for i in range(50) for r in simulator.batch(i).records]
    assert 0.015 < np.mean(flags) < 0.05
    clean = records.CargoDeclarationSimulator(seed=9, illicit_rate=0.0).batch(0, size=500)
    assert all(r.fields["illicit"] == "0" for r in clean.records)


def test_misdeclared_goods_weigh_more_than_declared_goods_would() -> None:
    simulator = records.CargoDeclarationSimulator(seed=9, illicit_rate=1.0)
    typical = {c.hs_code: c.unit_weight_kg for c in records.COMMODITIES}
    excess = [
        float(r.fields["weight_kg"]) / int(r.fields["quantity"]) / typical[r.fields["hs_code"]]
        for r in simulator.batch(0, size=600).records
        if r.fields["illicit_pattern"] == "misdeclaration"
    ]
    assert len(excess) > 100
    assert np.median(excess) > 1.5


def test_record_frame_wraps_the_serialized_batch() -> None:
    batch = records.CargoDeclarationSimulator(seed=1).batch(0, size=10)
    frame = records.to_frame(batch, "cargo-feed", 3)
    assert frame.modality == frame_pb2.MODALITY_RECORD
    assert frame.encoding == "protobuf"
    assert frame.dtype == frame_pb2.DTYPE_UNSPECIFIED
    assert frame.payload_bytes == len(frame.payload)
    assert frame_pb2.RecordBatch.FromString(frame.payload) == batch


def test_package_exports_resolve_lazily() -> None:
    import smartcustoms.hardware.sim as sim_package

    for name in sim_package.__all__:
        assert getattr(sim_package, name) is not None
    assert sim_package.xray_to_frame is xray.to_frame
    with pytest.raises(AttributeError):
        _ = sim_package.no_such_simulator
