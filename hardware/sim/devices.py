"""Simulated devices that stream through the vendor SDK, for ``smartcustoms demo`` and tests.

Every device is an async function ``run_<kind>(target, stop_at, rate_hz, seed, source_id)`` that sends
frames to the gateway at ``target`` on one ``IngestStream`` until ``time.monotonic()`` passes
``stop_at`` (or ``max_frames`` were sent), ``rate_hz`` frames (for the warehouse: ticks) a second, and
returns its ``DeviceStats`` once every frame has its ack. ``DEVICES`` maps each kind to its function;
``CLIENTS`` does the same for the simulated users of the gateway's other services.
Frames are generated in a worker thread (the numba kernels release the GIL), so several devices share
one event loop. A run can render the frames ahead instead (``Tape``): the devices are first run in
recording mode, which renders each one's frames for the run and sends nothing, then in playing mode,
which sends the rendered frames at the device's rate, stamped with the time they are sent. Real
scanners render on their own hardware; on one host the simulators would otherwise take the cores the
runtime is being measured on. Sequences start at the wall clock in microseconds, so they keep rising
across runs, as a real device's do, and the gateway's idempotency on (source_id, sequence) never
mistakes a new frame for an old one. Each device imports its simulator when it starts, so a demo
without cameras does not need OpenCV.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import grpc

from smartcustoms.hardware.sdk.client import OK, IngestStream
from smartcustoms.hardware.sim.air_drivers import run_drivers
from smartcustoms.hardware.sim.cases_feed import run_cases
from smartcustoms.hardware.sim.enquirers import run_enquirers
from smartcustoms.hardware.sim.listings_feed import run_listings
from smartcustoms.v1 import frame_pb2, ingest_pb2

if TYPE_CHECKING:
    from smartcustoms.hardware.sim.plates import PlateSimulator
    from smartcustoms.hardware.sim.records import CrossingSimulator
    from smartcustoms.hardware.sim.vehicle import VehicleSimulator

WAREHOUSE_HORIZON_TICKS = 2220  # the demo warehouse's day (37 min, again): seed 1 moves an item at once
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
# (index, first sequence) -> the frames of step ``index``
FrameMaker = Callable[[int, int], list[frame_pb2.Frame]]


@dataclass
class DeviceStats:
    name: str
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    first_rejection: str = ""  # why the first rejected frame was refused

    def count(self, future: asyncio.Future[ingest_pb2.IngestAck]) -> None:
        """Tally one frame's ack (a failed stream counts as a rejection)."""
        if future.cancelled() or (error := future.exception()) is not None:
            self.reject("cancelled" if future.cancelled() else str(error))
            return
        ack = future.result()
        if ack.code == OK:
            self.accepted += 1
            self.duplicates += int(ack.duplicate)
        else:
            self.reject(f"{CODE_NAMES.get(ack.code, ack.code)}: {ack.message}")

    def reject(self, why: str) -> None:
        self.rejected += 1
        self.first_rejection = self.first_rejection or why


class Device(Protocol):
    def __call__(
        self,
        target: str,
        stop_at: float,
        rate_hz: float = ...,
        seed: int = ...,
        source_id: str = ...,
        *,
        max_frames: int | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> Awaitable[DeviceStats]: ...


def first_sequence() -> int:
    """Wall clock in microseconds: a sequence start later than any earlier run's."""
    return time.time_ns() // 1000


@dataclass
class Recording:
    """One device's frames rendered ahead: the sequence base they were made with, then each step's."""

    base: int
    steps: list[list[frame_pb2.Frame]] = field(default_factory=list)
    nbytes: int = 0


@dataclass
class Tape:
    """Frames rendered before a run's clock starts, by device name (``record``, then ``play``).

    While recording, ``stream`` renders what its device would send until ``stop_at`` (at most
    ``max_bytes_per_device`` of it) and returns without connecting. While playing, ``stream`` sends
    the device's recorded steps first, each frame's capture time set as it is sent, and renders live
    only if the run outlasts them.

    With ``independent_phases`` (the default) each device's first step comes at its own offset within
    its first period (``start_offset_s``, fixed by its name), as at a control point whose scanners do
    not share a clock: the devices of a tape start together, and without offsets every one of them
    would send in the same millisecond and two lanes at one rate would send their bags together for
    the whole run.
    """

    max_bytes_per_device: int = 512 * 2**20
    recordings: dict[str, Recording] = field(default_factory=dict)
    recording: bool = False
    independent_phases: bool = True

    @contextmanager
    def record(self) -> Iterator[Tape]:
        """Devices started inside this block (and the tasks they start) record into this tape."""
        self.recording = True
        token = _TAPE.set(self)
        try:
            yield self
        finally:
            _TAPE.reset(token)
            self.recording = False

    @contextmanager
    def play(self) -> Iterator[Tape]:
        """Devices started inside this block send what they recorded."""
        token = _TAPE.set(self)
        try:
            yield self
        finally:
            _TAPE.reset(token)

    def start_offset_s(self, name: str, rate_hz: float) -> float:
        """When the device ``name`` sends its first step, in seconds after it starts playing: a fraction
        of its period fixed by its name (the same in every run), or 0 without ``independent_phases``."""
        if not self.independent_phases:
            return 0.0
        return zlib.crc32(name.encode()) / 2**32 / rate_hz

    @property
    def frames(self) -> int:
        return sum(len(step) for r in self.recordings.values() for step in r.steps)

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.recordings.values())

    def render(self, name: str, make: FrameMaker, steps: int, max_frames: int | None) -> None:
        """Render up to ``steps`` steps of ``make`` (and ``max_frames`` frames) for the device ``name``."""
        recording = self.recordings[name] = Recording(first_sequence())
        frames = 0
        for index in range(steps):
            if recording.nbytes >= self.max_bytes_per_device or (
                max_frames is not None and frames >= max_frames
            ):
                break
            step = make(index, recording.base)
            recording.steps.append(step)
            recording.nbytes += sum(frame.ByteSize() for frame in step)
            frames += len(step)


_TAPE: ContextVar[Tape | None] = ContextVar("smartcustoms_device_tape", default=None)


async def stream(
    target: str,
    make: FrameMaker,
    name: str,
    stop_at: float,
    rate_hz: float,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> DeviceStats:
    """Send ``make(index, sequence_base)`` for index 0, 1, ... at ``rate_hz`` steps a second, as the
    device ``name``, until ``stop_at`` or ``max_frames``."""
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    tape = _TAPE.get()
    if tape is not None and tape.recording:
        steps = math.ceil(max(0.0, stop_at - time.monotonic()) * rate_hz)
        await asyncio.to_thread(tape.render, name, make, steps, max_frames)
        return DeviceStats(name)
    recorded = tape.recordings.pop(name, None) if tape is not None else None
    stats = DeviceStats(name)
    base = recorded.base if recorded is not None else first_sequence()
    ahead = recorded.steps if recorded is not None else []
    offset_s = tape.start_offset_s(name, rate_hz) if tape is not None and recorded is not None else 0.0
    started, pending = time.monotonic() + offset_s, []
    async with IngestStream(target, credentials=credentials) as ingest:
        index = 0
        await asyncio.sleep(max(0.0, started - time.monotonic()))
        while time.monotonic() < stop_at and (max_frames is None or stats.sent < max_frames):
            if index < len(ahead):
                frames = ahead[index]
                ahead[index] = []  # sent frames are not kept
                for frame in frames:
                    frame.capture_time.GetCurrentTime()
            else:
                frames = await asyncio.to_thread(make, index, base)
            for frame in frames[: None if max_frames is None else max_frames - stats.sent]:
                future = await ingest.send(frame)
                future.add_done_callback(stats.count)
                pending.append(future)
                stats.sent += 1
            index += 1
            await asyncio.sleep(max(0.0, started + index / rate_hz - time.monotonic()))
        await asyncio.gather(*pending, return_exceptions=True)
    return stats


def _one(frame: frame_pb2.Frame) -> list[frame_pb2.Frame]:
    return [frame]


def bag_tag(source_id: str, base: int, index: int) -> str:
    """A bag's conveyance id, unique to the lane and the run: the demo's lanes scan different bags."""
    return f"bag-{source_id}-{base + index}"


# --------------------------------------------------------------------------- devices


async def run_xray(
    target: str,
    stop_at: float,
    rate_hz: float = 2.0,
    seed: int = 0,
    source_id: str = "lane-1-xray",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    height: int = 1024,
    width: int = 2048,
) -> DeviceStats:
    """A baggage X-ray lane: dual-energy scans."""
    from smartcustoms.hardware.sim import xray

    simulator = xray.XraySimulator(seed, height, width)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        scan = simulator.generate(index)
        return _one(
            xray.to_frame(
                scan,
                source_id=source_id,
                sequence=base + index,
                conveyance_id=bag_tag(source_id, base, index),
            )
        )

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_vehicle(
    target: str,
    stop_at: float,
    rate_hz: float = 0.5,
    seed: int = 0,
    source_id: str = "portal-1-xray",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    height: int = 1024,
    width: int = 3072,
) -> DeviceStats:
    """A vehicle portal: side-view scans of cars, vans, trucks and containers."""
    from smartcustoms.hardware.sim import vehicle

    simulator = vehicle.VehicleSimulator(seed, height, width)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        scan = simulator.generate(index)
        return _one(
            vehicle.to_frame(
                scan, source_id=source_id, sequence=base + index, conveyance_id=f"vehicle-{base + index}"
            )
        )

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_ct(
    target: str,
    stop_at: float,
    rate_hz: float = 0.5,
    seed: int = 0,
    source_id: str = "lane-1-ct",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    shape: tuple[int, int, int] | None = None,
) -> DeviceStats:
    """A CT baggage scanner: reconstructed volumes."""
    from smartcustoms.hardware.sim import ct

    simulator = ct.CtSimulator(seed, shape or ct.DEFAULT_SHAPE)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        scan = simulator.generate(index)
        return _one(
            ct.to_frame(
                scan,
                source_id=source_id,
                sequence=base + index,
                conveyance_id=bag_tag(source_id, base, index),
            )
        )

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_liquor(
    target: str,
    stop_at: float,
    rate_hz: float = 2.0,
    seed: int = 0,
    source_id: str = "red-channel-camera",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    height: int = 720,
    width: int = 960,
) -> DeviceStats:
    """A camera over the red-channel counter: JPEG frames of liquor bottles (metadata camera_role
    "red_channel" and the bottle's traveller_id)."""
    from smartcustoms.hardware.sim import liquor

    simulator = liquor.LiquorSimulator(seed, height, width)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        return _one(liquor.to_frame(simulator.generate(index), source_id=source_id, sequence=base + index))

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_rfid(
    target: str,
    stop_at: float,
    rate_hz: float = 10.0,
    seed: int = 0,
    source_id: str = "store-1-reader",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> DeviceStats:
    """An evidence-store RFID reader cycling over its zones."""
    from smartcustoms.hardware.sim import rfid

    simulator = rfid.RfidSimulator(seed)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        return _one(rfid.to_frame(simulator.report(index), source_id=source_id, sequence=base + index))

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_warehouse(
    target: str,
    stop_at: float,
    rate_hz: float = 1.0,
    seed: int = 0,
    source_id: str = "evidence-store",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    horizon_ticks: int = WAREHOUSE_HORIZON_TICKS,
) -> DeviceStats:
    """An evidence warehouse: per tick one report per zone reader (source ``<source_id>-<zone>``), and
    the tick's work orders as a record batch (source ``<source_id>-orders``) when there are any."""
    from smartcustoms.hardware.sim import records, rfid, warehouse

    store = warehouse.EvidenceWarehouse(seed, horizon_ticks=horizon_ticks)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        tick = index % horizon_ticks
        frames = [
            rfid.to_frame(report, source_id=f"{source_id}-{report.zone}", sequence=base + index)
            for report in store.tick_reports(tick)
        ]
        orders = store.work_orders(tick, tick + 1)
        if orders.records:
            frames.append(records.to_frame(orders, f"{source_id}-orders", base + index))
        return frames

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_declarations(
    target: str,
    stop_at: float,
    rate_hz: float = 1.0,
    seed: int = 0,
    source_id: str = "cargo-feed",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    batch_size: int = 100,
) -> DeviceStats:
    """A cargo declaration feed: batches of declarations."""
    from smartcustoms.hardware.sim import records

    simulator = records.CargoDeclarationSimulator(seed)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        return _one(records.to_frame(simulator.batch(index, batch_size), source_id, base + index))

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_crossings(
    target: str,
    stop_at: float,
    rate_hz: float = 1.0,
    seed: int = 0,
    source_id: str = "crossing-feed",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    batch_size: int = 20,
) -> DeviceStats:
    """A control point's private-car crossing feed: batches of crossings."""
    from smartcustoms.hardware.sim import records

    simulator = records.CrossingSimulator(seed)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        return _one(records.to_frame(simulator.batch(index, batch_size), source_id, base + index))

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


def car_lane_frames(
    crossings: CrossingSimulator,
    portal: VehicleSimulator,
    index: int,
    sequence: int,
    source_id: str,
    camera: PlateSimulator | None = None,
) -> list[frame_pb2.Frame]:
    """Car ``index`` of a lane: its crossing record (source ``<source_id>-crossings``, one record a
    frame) and its portal scan (``source_id``), a model that looks like the car, both naming the
    conveyance ``<plate>-<sequence>``, so the fusion stage makes one decision of the two; with a
    ``camera``, also the lane camera's frame of the car's plates (``<source_id>-plate-camera``)."""
    from smartcustoms.hardware.sim import plates, records, vehicle

    (crossing,) = crossings.batch(index, 1).records
    conveyance_id = f"{crossing.fields['plate_hk']}-{sequence}"
    record = records.to_frame(frame_pb2.RecordBatch(records=[crossing]), f"{source_id}-crossings", sequence)
    record.conveyance_id = conveyance_id
    scan = portal.generate(index, model=crossing.fields["portal_model"])
    frames = [
        record,
        vehicle.to_frame(scan, source_id=source_id, sequence=sequence, conveyance_id=conveyance_id),
    ]
    if camera is not None:
        shot = camera.generate(index, plates=plates.crossing_plates(crossing.fields))
        source = f"{source_id}-plate-camera"
        frames.append(plates.to_frame(shot, source_id=source, sequence=sequence, conveyance_id=conveyance_id))
    return frames


async def run_car_lane(
    target: str,
    stop_at: float,
    rate_hz: float = 0.2,
    seed: int = 0,
    source_id: str = "portal-1-xray",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    height: int = 1024,
    width: int = 3072,
) -> DeviceStats:
    """A private-car lane at a control point: per car, its crossing record, its portal scan and the
    lane camera's frame of its plates, one conveyance (``car_lane_frames``)."""
    from smartcustoms.hardware.sim import plates, records, vehicle

    crossings = records.CrossingSimulator(seed)
    portal = vehicle.VehicleSimulator(seed, height, width)
    camera = plates.PlateSimulator(seed)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        return car_lane_frames(crossings, portal, index, base + index, source_id, camera)

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


async def run_plate_camera(
    target: str,
    stop_at: float,
    rate_hz: float = 0.5,
    seed: int = 0,
    source_id: str = "lane-1-plate-camera",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    height: int = 480,
    width: int = 640,
) -> DeviceStats:
    """A vehicle lane camera on its own: JPEG frames of the cars of the crossing feed of ``seed``, each
    naming the conveyance ``<plate>-<sequence>`` as a car lane does (``car_lane`` sends these frames
    with the car's record and scan)."""
    from smartcustoms.hardware.sim import plates, records

    crossings = records.CrossingSimulator(seed)
    camera = plates.PlateSimulator(seed, height, width)

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        (crossing,) = crossings.batch(index, 1).records
        shot = camera.generate(index, plates=plates.crossing_plates(crossing.fields))
        conveyance_id = f"{crossing.fields['plate_hk']}-{base + index}"
        return _one(
            plates.to_frame(shot, source_id=source_id, sequence=base + index, conveyance_id=conveyance_id)
        )

    return await stream(target, make, source_id, stop_at, rate_hz, max_frames, credentials)


DEVICES: dict[str, Device] = {
    "xray": run_xray,
    "vehicle": run_vehicle,
    "car_lane": run_car_lane,
    "ct": run_ct,
    "liquor": run_liquor,
    "plate_camera": run_plate_camera,
    "rfid": run_rfid,
    "warehouse": run_warehouse,
    "declarations": run_declarations,
    "crossings": run_crossings,
    "cases": run_cases,
}
# People and platforms that use the gateway's services rather than stream frames into it: drivers and
# counter officers of the air cargo queue, enquirers of the enquiry assistant, an online platform's
# listings API polled by the feed connector. Same call and same DeviceStats; what they count are calls.
CLIENTS: dict[str, Device] = {
    "enquirers": run_enquirers,
    "air_drivers": run_drivers,
    "listings": run_listings,
}
