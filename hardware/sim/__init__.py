"""Device simulators for demos, tests and benchmarks: deterministic per (seed, index), with ground truth.

* ``xray``: dual-energy baggage scans (Beer-Lambert, material-dependent attenuation) with threat truth;
  ``python -m smartcustoms.hardware.sim.xray`` times the generation of 1024 x 2048 scans (``vehicle``
  and ``ct`` time theirs the same way);
* ``vehicle``: portal scans of cars, vans, trucks and containers (MeV dual energy), per-model reference
  scans, and concealments (hidden compartments, undeclared goods, extra load) with boxes;
* ``ct``: CT baggage volumes (MHU) with 3D threats, their projections and radiographs;
* ``liquor``: camera frames of liquor bottles from a label catalogue (needs OpenCV);
* ``plates``: vehicle lane camera frames with Hong Kong and Guangdong licence plates (OpenCV, Pillow);
* ``rfid``: evidence-store reader reports of SGTIN-96 tags (the GS1 codec is ``smartcustoms.core.epc``);
* ``warehouse``: an RFID evidence warehouse with deposits, moves, retrievals and anomalies, work orders
  and a ground-truth event log;
* ``records``: cargo declarations and cross-boundary private-car crossings, a few of them illicit, with
  the duty at stake (``duty`` holds the Hong Kong duty rules);
* ``devices``: every simulator as a device streaming through the vendor SDK; ``cli``: ``smartcustoms sim``.

Each module has a ``to_frame`` that packs its output as a ``smartcustoms.v1.Frame`` (all built by
``_frames``); they are also exported here as ``xray_to_frame``, ``vehicle_to_frame`` and so on.
Exports load their module on first use, so RFID and record users do not pay for numba or OpenCV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import ct, devices, duty, liquor, plates, records, rfid, vehicle, warehouse, xray
    from .ct import CtScan, CtSimulator, projection
    from .ct import to_frame as ct_to_frame
    from .devices import DEVICES
    from .liquor import CATALOGUE, LiquorFrame, LiquorSimulator, label_image
    from .liquor import to_frame as liquor_to_frame
    from .plates import PlateFrame, PlateSimulator
    from .plates import to_frame as plates_to_frame
    from .records import CargoDeclarationSimulator, CrossingSimulator
    from .records import to_frame as records_to_frame
    from .rfid import RfidSimulator, decode_sgtin96, encode_sgtin96
    from .rfid import to_frame as rfid_to_frame
    from .vehicle import ConcealmentTruth, VehicleScan, VehicleSimulator
    from .vehicle import to_frame as vehicle_to_frame
    from .warehouse import EvidenceWarehouse
    from .xray import MATERIALS, THREAT_CLASSES, ThreatTruth, XrayScan, XraySimulator, transmission_image
    from .xray import to_frame as xray_to_frame

_EXPORTS = {  # name -> (module, attribute)
    "CargoDeclarationSimulator": ("records", "CargoDeclarationSimulator"),
    "CrossingSimulator": ("records", "CrossingSimulator"),
    "records_to_frame": ("records", "to_frame"),
    "RfidSimulator": ("rfid", "RfidSimulator"),
    "decode_sgtin96": ("rfid", "decode_sgtin96"),
    "encode_sgtin96": ("rfid", "encode_sgtin96"),
    "rfid_to_frame": ("rfid", "to_frame"),
    "EvidenceWarehouse": ("warehouse", "EvidenceWarehouse"),
    "MATERIALS": ("xray", "MATERIALS"),
    "THREAT_CLASSES": ("xray", "THREAT_CLASSES"),
    "ThreatTruth": ("xray", "ThreatTruth"),
    "XrayScan": ("xray", "XrayScan"),
    "XraySimulator": ("xray", "XraySimulator"),
    "transmission_image": ("xray", "transmission_image"),
    "xray_to_frame": ("xray", "to_frame"),
    "ConcealmentTruth": ("vehicle", "ConcealmentTruth"),
    "VehicleScan": ("vehicle", "VehicleScan"),
    "VehicleSimulator": ("vehicle", "VehicleSimulator"),
    "vehicle_to_frame": ("vehicle", "to_frame"),
    "CtScan": ("ct", "CtScan"),
    "CtSimulator": ("ct", "CtSimulator"),
    "projection": ("ct", "projection"),
    "ct_to_frame": ("ct", "to_frame"),
    "CATALOGUE": ("liquor", "CATALOGUE"),
    "LiquorFrame": ("liquor", "LiquorFrame"),
    "LiquorSimulator": ("liquor", "LiquorSimulator"),
    "label_image": ("liquor", "label_image"),
    "liquor_to_frame": ("liquor", "to_frame"),
    "PlateFrame": ("plates", "PlateFrame"),
    "PlateSimulator": ("plates", "PlateSimulator"),
    "plates_to_frame": ("plates", "to_frame"),
    "DEVICES": ("devices", "DEVICES"),
}
_MODULES = ("ct", "devices", "duty", "liquor", "plates", "records", "rfid", "vehicle", "warehouse", "xray")

__all__ = [  # literal, so linters and type checkers see the exports
    "CATALOGUE",
    "DEVICES",
    "MATERIALS",
    "THREAT_CLASSES",
    "CargoDeclarationSimulator",
    "ConcealmentTruth",
    "CrossingSimulator",
    "CtScan",
    "CtSimulator",
    "EvidenceWarehouse",
    "LiquorFrame",
    "LiquorSimulator",
    "PlateFrame",
    "PlateSimulator",
    "RfidSimulator",
    "ThreatTruth",
    "VehicleScan",
    "VehicleSimulator",
    "XrayScan",
    "XraySimulator",
    "ct",
    "ct_to_frame",
    "decode_sgtin96",
    "devices",
    "duty",
    "encode_sgtin96",
    "label_image",
    "liquor",
    "liquor_to_frame",
    "plates",
    "plates_to_frame",
    "projection",
    "records",
    "records_to_frame",
    "rfid",
    "rfid_to_frame",
    "transmission_image",
    "vehicle",
    "vehicle_to_frame",
    "warehouse",
    "xray",
    "xray_to_frame",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
