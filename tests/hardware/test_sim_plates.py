"""Licence plate camera simulator: plate formats as on the crossing records, the plates where the truth
says, light, view and pose within their ranges, frames for the vehicle lane, and the car lane device."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from smartcustoms.hardware.sim import _plate_art, devices, plates, records
from smartcustoms.hardware.sim.cli import KINDS
from smartcustoms.v1 import frame_pb2

HK = re.compile(r"^[A-HJ-NPR-Z]{2}[1-9][0-9]{0,3}$")
GD = re.compile(r"^\u7ca4Z[A-HJ-NP-Z0-9]{4}\u6e2f$")
HAS_CJK_FONT = _plate_art.Glyphs().cjk


@pytest.fixture(scope="module")
def sim() -> plates.PlateSimulator:
    return plates.PlateSimulator(seed=7, height=240, width=320)


def test_plates_follow_the_formats_of_the_crossing_fleet() -> None:
    rng = np.random.default_rng(1)
    assert all(HK.match(_plate_art.hk_plate(rng)) for _ in range(300))
    assert all(GD.match(_plate_art.gd_plate(rng)) for _ in range(300))
    assert _plate_art.HK_LETTERS == records._PLATE_LETTERS
    fleet = records.CrossingSimulator(0, fleet_size=40).fleet
    assert all(HK.match(car.plate_hk) and GD.match(car.plate_mainland) for car in fleet)
    crossing = records.CrossingSimulator(0).batch(0, 1).records[0]
    assert plates.crossing_plates(crossing.fields) == (
        crossing.fields["plate_hk"],
        crossing.fields["plate_mainland"],
    )


def test_frames_are_deterministic_and_vary(sim: plates.PlateSimulator) -> None:
    shot = sim.generate(3)
    assert shot.image.shape == (240, 320, 3) and shot.image.dtype == np.uint8
    again = plates.PlateSimulator(seed=7, height=240, width=320).generate(3)
    assert shot.image.tobytes() == again.image.tobytes() and shot.plates == again.plates
    assert not np.array_equal(shot.image, sim.generate(4).image)


def test_pose_light_and_plates_stay_within_their_ranges(sim: plates.PlateSimulator) -> None:
    shots = [sim.generate(index) for index in range(40)]
    assert {s.light for s in shots} == set(plates.LIGHTS) and {s.view for s in shots} == set(plates.VIEWS)
    assert {len(s.plates) for s in shots} == {1, 2}
    for shot in shots:
        assert abs(shot.yaw_deg) <= plates.MAX_YAW_DEG and 3 <= shot.pitch_deg <= 18
        assert 40 <= shot.jpeg_quality <= 92 and 0 <= shot.dirt <= 1
        for plate in shot.plates:
            x0, y0, x1, y1 = plate.box
            assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240, plate
            assert (HK if plate.region == "HK" else GD).match(plate.text)
            expected = "gd" if plate.region == "GD" else ("hk_front" if shot.view == "front" else "hk_rear")
            assert plate.style == expected


def test_given_plates_light_and_view_are_drawn(sim: plates.PlateSimulator) -> None:
    shot = sim.generate(0, plates=("AB1234", "\u7ca4ZQ7K2\u6e2f"), light="night_ir", view="rear")
    assert [p.text for p in shot.plates] == ["AB1234", "\u7ca4ZQ7K2\u6e2f"]
    assert (shot.light, shot.view) == ("night_ir", "rear")
    assert np.array_equal(shot.image[..., 0], shot.image[..., 1])  # infrared: monochrome
    with pytest.raises(ValueError):
        sim.generate(0, light="noon")
    with pytest.raises(ValueError):
        sim.generate(0, plates=("AB1", "CD2", "EF3"))
    with pytest.raises(ValueError):
        plates.PlateSimulator(seed=-1)


def test_the_plate_is_where_the_truth_says(sim: plates.PlateSimulator) -> None:
    """Two plates shot in the same pose and light differ inside the plate, not far from it."""
    for index in range(4):
        first = sim.generate(index, plates=("AB1234",), light="day")
        second = sim.generate(index, plates=("XY9876",), light="day")
        difference = np.abs(first.image.astype(int) - second.image.astype(int)).sum(axis=2)
        x0, y0, x1, y1 = first.plates[0].box
        assert difference[y0:y1, x0:x1].mean() > 20
        outside = np.ones_like(difference, dtype=bool)
        outside[max(0, y0 - 12) : y1 + 12, max(0, x0 - 12) : x1 + 12] = False
        assert difference[outside].mean() < 3  # only noise drawn in the same order


def test_a_hong_kong_plate_is_light_with_dark_characters_by_day() -> None:
    shot = plates.PlateSimulator(seed=3).generate(1, plates=("CD5678",), light="day", view="front")
    gray = cv2.cvtColor(np.ascontiguousarray(shot.image), cv2.COLOR_RGB2GRAY)
    corners = np.array(shot.plates[0].corners, dtype=np.int32)
    inside = np.zeros(gray.shape, dtype=np.uint8)
    cv2.fillConvexPoly(inside, corners, 1)
    values = gray[inside > 0]
    assert np.percentile(values, 90) > 150 and np.percentile(values, 5) < 90


def test_without_a_cjk_font_only_the_latin_part_is_printed() -> None:
    shot = plates.PlateSimulator(seed=1, cjk=False).generate(2, plates=("\u7ca4ZAB12\u6e2f",))
    (plate,) = shot.plates
    assert plate.text == "\u7ca4ZAB12\u6e2f" and plate.printed == "Z\u00b7AB12" and not plate.cjk_rendered


@pytest.mark.skipif(
    not HAS_CJK_FONT, reason="no CJK font installed (scripts/setup installs fonts-wqy-microhei)"
)
def test_with_a_cjk_font_the_chinese_characters_are_printed() -> None:
    shot = plates.PlateSimulator(seed=1, cjk=True).generate(2, plates=("\u7ca4ZAB12\u6e2f",))
    assert shot.plates[0].printed == "\u7ca4Z\u00b7AB12\u6e2f" and shot.plates[0].cjk_rendered


def test_frame_is_a_vehicle_lane_camera_jpeg_with_its_conveyance(sim: plates.PlateSimulator) -> None:
    shot = sim.generate(5)
    frame = plates.to_frame(shot, source_id="lane-3-camera", sequence=9, conveyance_id="AB1234-9")
    assert frame.modality == frame_pb2.MODALITY_CAMERA and frame.encoding == "jpeg"
    assert list(frame.shape) == [240, 320, 3] and frame.payload_bytes == len(frame.payload)
    assert frame.metadata["camera_role"] == "vehicle_lane" and frame.metadata["camera_view"] == shot.view
    assert frame.conveyance_id == frame.metadata["conveyance_id"] == "AB1234-9"
    decoded = cv2.imdecode(np.frombuffer(frame.payload, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (240, 320, 3)
    assert np.abs(decoded[..., ::-1].astype(int) - shot.image.astype(int)).mean() < 8
    truth = json.loads(frame.metadata["sim_truth"])
    assert [p["text"] for p in truth["plates"]] == [p.text for p in shot.plates]
    assert truth["light"] == shot.light and truth["jpeg_quality"] == shot.jpeg_quality
    assert "conveyance_id" not in plates.to_frame(shot, source_id="c", sequence=1).metadata


def test_a_car_lane_with_a_camera_shows_the_crossing_car_in_its_conveyance() -> None:
    from smartcustoms.hardware.sim.vehicle import VehicleSimulator

    frames = devices.car_lane_frames(
        records.CrossingSimulator(3),
        VehicleSimulator(3, 128, 384),
        5,
        1005,
        "lane-9",
        plates.PlateSimulator(3),
    )
    record, scan, camera = frames
    (crossing,) = frame_pb2.RecordBatch.FromString(record.payload).records
    assert camera.conveyance_id == record.conveyance_id == scan.conveyance_id
    assert (camera.source_id, camera.modality) == ("lane-9-plate-camera", frame_pb2.MODALITY_CAMERA)
    truth = json.loads(camera.metadata["sim_truth"])
    assert [p["text"] for p in truth["plates"]] == [
        crossing.fields["plate_hk"],
        crossing.fields["plate_mainland"],
    ]
    assert "plate_camera" in devices.DEVICES and "plates" in KINDS
