"""Each plugin's kernel two ways: through ``PluginHost.process`` (the framework) and called bare.

The framework path is what a Ray actor runs for a micro-batch: parse each serialized ``Frame``, give
the plugin ``FrameView``s whose payload is inline or mapped from the shared-memory claim check (as the
gateway left it: payloads over ``inline_max_bytes`` wait in ``/dev/shm``), run the batch hook, check
and serialize one ``PluginResult`` per frame. The bare path calls the plugin's own function on arrays
already in memory, in a plain loop. Both must reach the same decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.blobstore import BlobStore, open_blob_store
from smartcustoms.core.config import GatewayConfig
from smartcustoms.core.manager import PluginLoadError, discover
from smartcustoms.core.types import Decision
from smartcustoms.runtime.actor import ActorSpec, PluginHost
from smartcustoms.v1 import frame_pb2, results_pb2

SEED = 3400  # not a development, tuning or evaluation seed
INLINE_MAX_BYTES = GatewayConfig().inline_max_bytes


@dataclass(frozen=True)
class KernelCase:
    """One plugin, one micro-batch of frames, and the bare call that does the same work."""

    plugin: str
    import_path: str
    frames: list[frame_pb2.Frame]  # payload inline, as built by the simulators
    bare: Callable[[], list[Decision]]  # the plugin's own function over the arrays, one decision per frame
    rounds: int
    records_per_frame: float = 1.0
    note: str = ""

    @property
    def payload_bytes(self) -> int:
        return int(np.mean([len(frame.payload) for frame in self.frames]))


def as_gateway_leaves_them(frames: list[frame_pb2.Frame], store: BlobStore) -> list[bytes]:
    """Serialized frames: payload inline when small, else in the blob store behind a claim check."""
    serialized = []
    for frame in frames:
        record = frame_pb2.Frame()
        record.CopyFrom(frame)
        record.payload_bytes = len(frame.payload)
        record.accepted_time.GetCurrentTime()
        if len(frame.payload) > INLINE_MAX_BYTES:
            with store.open_writer(f"kernel-{frame.frame_id}", len(frame.payload)) as writer:
                writer.write(frame.payload)
                ref = writer.commit()
            record.ClearField("payload")
            record.blob.CopyFrom(ref)
        serialized.append(record.SerializeToString())
    return serialized


class FrameworkPath:
    """A PluginHost configured as an ActorPool configures its actors, and its batch."""

    def __init__(self, case: KernelCase, shm_root: Path, namespace: str) -> None:
        spec_settings = _default_settings(case.import_path)
        store = {"kind": "shm", "namespace": namespace, "shm_root": str(shm_root)}
        self.host = PluginHost(ActorSpec(case.import_path, spec_settings, store))
        self.batch = as_gateway_leaves_them(case.frames, open_blob_store(**store))

    def __call__(self) -> list[Decision]:
        outcome = self.host.process(self.batch)
        assert not outcome.failure_reason, f"{outcome.failure_reason}: {outcome.failure}"
        return [
            Decision.from_proto(results_pb2.PluginResult.FromString(raw).decision) for raw in outcome.results
        ]


def _default_settings(import_path: str) -> Mapping[str, Any]:
    return dict(discover(import_path).spec.default_settings)


def _frame(frame: frame_pb2.Frame, index: int) -> frame_pb2.Frame:
    frame.frame_id = f"kernel-{SEED}-{index}-{frame.frame_id[:8]}"
    return frame


def _decision(found: object) -> Decision:
    return Decision.ALARM if found else Decision.CLEAR


# ----------------------------------------------------------------------------------------- the cases


def dense_region() -> KernelCase:
    """4 dual-energy baggage scans, 2 x 1024 x 2048 uint16 (8 MiB, claim check), one batch."""
    from smartcustoms.hardware.sim import xray
    from smartcustoms.plugins.xray import dense_region as plugin

    simulator = xray.XraySimulator(SEED, 1024, 2048)
    scans = [simulator.generate(i, threat=("firearm", None)[i % 2]) for i in range(4)]
    frames = [
        _frame(xray.to_frame(s, source_id="kernel-xray", sequence=i + 1), i) for i, s in enumerate(scans)
    ]
    settings = dict(plugin.SPEC.default_settings)

    def bare() -> list[Decision]:
        return [plugin.assess(scan.image, **settings).decision for scan in scans]

    return KernelCase("dense_region", PLUGIN_PATHS["dense_region"], frames, bare, rounds=10)


def rfid_epc_check() -> KernelCase:
    """64 reader reports of up to 1,000 tag reads (inline protobuf), one batch.

    The bare path starts from the same payload bytes and decodes them itself, as the plugin does:
    an RFID report's arrays are a protobuf message, not a raw array that needs no decoding.
    """
    from smartcustoms.hardware.sim import rfid
    from smartcustoms.plugins.rfid import foreign_tags

    simulator = rfid.RfidSimulator(SEED, tag_count=4000)
    payloads = [simulator.report(i, reads=1000).SerializeToString() for i in range(64)]
    frames = []
    for index, payload in enumerate(payloads):
        frame = frame_pb2.Frame(
            frame_id=str(index), source_id="kernel-reader", sequence=index + 1,
            modality=frame_pb2.MODALITY_RFID, encoding="protobuf", payload=payload,
        )  # fmt: skip
        frames.append(_frame(frame, index))

    def bare() -> list[Decision]:
        reports = (frame_pb2.RfidReadBatch.FromString(payload) for payload in payloads)
        return [_decision(foreign_tags(report.reads)) for report in reports]

    reads = float(np.mean([len(frame_pb2.RfidReadBatch.FromString(p).reads) for p in payloads]))
    return KernelCase(
        "rfid_epc_check", PLUGIN_PATHS["rfid_epc_check"], frames, bare, rounds=10,
        records_per_frame=reads, note="both paths decode the RfidReadBatch payloads",
    )  # fmt: skip


def ct_detector() -> KernelCase:
    """One 256^3 CT volume, uint16 MHU (32 MiB, claim check), with a firearm."""
    from smartcustoms.hardware.sim import ct
    from smartcustoms.plugins.ct import CtDetector

    scan = ct.CtSimulator(SEED, (256, 256, 256)).generate(1, threat="firearm")
    frames = [_frame(ct.to_frame(scan, source_id="kernel-ct", sequence=1), 0)]
    detector = CtDetector()

    def bare() -> list[Decision]:
        return [_decision(detector.detect(scan.volume, scan.voxel_size_mm))]

    return KernelCase("ct_detector", PLUGIN_PATHS["ct_detector"], frames, bare, rounds=5)


def vehicle_compare() -> KernelCase:
    """One portal scan, 2 x 1024 x 3072 uint16 (12 MiB, claim check), hidden compartment.

    Both paths load the vehicle-references artefact from the default artefact root (build it first with
    ``smartcustoms library build vehicle``)."""
    from smartcustoms.hardware.sim import vehicle
    from smartcustoms.plugins.vehicle import Declaration
    from smartcustoms.plugins.vehicle.tools.evaluate import tool_plugin

    simulator = vehicle.VehicleSimulator(SEED)
    scan = simulator.generate(1, model="box-truck-1", concealment="hidden_compartment")
    frame = _frame(vehicle.to_frame(scan, source_id="kernel-portal", sequence=1), 0)
    comparer = tool_plugin().comparer
    declaration = Declaration.from_metadata(frame.metadata)

    def bare() -> list[Decision]:
        detections, _ = comparer.compare(scan.image, scan.model, declaration, scan.pixel_size_mm)
        return [_decision(detections)]

    return KernelCase("vehicle_compare", PLUGIN_PATHS["vehicle_compare"], [frame], bare, rounds=5)


def xray_detector() -> KernelCase:
    """One dual-energy baggage scan, 2 x 1024 x 2048 uint16 (8 MiB, claim check), with a firearm.

    Both paths load the xray-library artefact from the default artefact root (build it first with
    ``smartcustoms library build xray``)."""
    from smartcustoms.hardware.sim import xray
    from smartcustoms.plugins.xray.tools.evaluate import tool_plugin

    scan = xray.XraySimulator(SEED, 1024, 2048).generate(1, threat="firearm")
    frame = _frame(xray.to_frame(scan, source_id="kernel-xray", sequence=1), 0)
    detector = tool_plugin().detector

    def bare() -> list[Decision]:
        return [detector.assess(scan.image, pixel_size_mm=scan.pixel_size_mm).decision]

    return KernelCase("xray_detector", PLUGIN_PATHS["xray_detector"], [frame], bare, rounds=10)


# case -> the plugin's import path (probed before a case is built: a case that does not import is skipped)
PLUGIN_PATHS = {
    "dense_region": "smartcustoms.plugins.xray:DenseRegionPlugin",
    "rfid_epc_check": "smartcustoms.plugins.rfid:EpcCheckPlugin",
    "ct_detector": "smartcustoms.plugins.ct:CtDetectorPlugin",
    "vehicle_compare": "smartcustoms.plugins.vehicle:VehicleComparePlugin",
    "xray_detector": "smartcustoms.plugins.xray:XrayDetectorPlugin",
}

CASES: dict[str, Callable[[], KernelCase]] = {
    "dense_region": dense_region,
    "rfid_epc_check": rfid_epc_check,
    "ct_detector": ct_detector,
    "vehicle_compare": vehicle_compare,
    "xray_detector": xray_detector,
}


def importable(import_path: str) -> str | None:
    """None if the plugin imports, else why not (a plugin still being written may not exist yet)."""
    try:
        discover(import_path)
    except PluginLoadError as error:  # the case is reported as skipped with the reason
        return f"{import_path} does not import: {error}"
    return None
