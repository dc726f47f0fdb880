"""Device simulators for demos, tests and benchmarks: deterministic per (seed, index).

* ``xray``: dual-energy baggage scans (Beer-Lambert, material-dependent attenuation) with threat truth;
  ``python -m smartcustoms.hardware.sim.xray`` times the generation of 1024 x 2048 scans;
* ``rfid``: evidence-store reader reports of SGTIN-96 tags, with an SGTIN-96 encoder and decoder;
* ``records``: cargo declarations, a few of them illicit.

Each module has a ``to_frame`` that packs its output as a ``smartcustoms.v1.Frame``; they are also
exported here as ``xray_to_frame``, ``rfid_to_frame`` and ``records_to_frame``. Exports load their module
on first use, so RFID and record users do not pay for numba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import records, rfid, xray
    from .records import CargoDeclarationSimulator
    from .records import to_frame as records_to_frame
    from .rfid import RfidSimulator, decode_sgtin96, encode_sgtin96
    from .rfid import to_frame as rfid_to_frame
    from .xray import MATERIALS, THREAT_CLASSES, ThreatTruth, XrayScan, XraySimulator, transmission_image
    from .xray import to_frame as xray_to_frame

_EXPORTS = {  # name -> (module, attribute)
    "CargoDeclarationSimulator": ("records", "CargoDeclarationSimulator"),
    "records_to_frame": ("records", "to_frame"),
    "RfidSimulator": ("rfid", "RfidSimulator"),
    "decode_sgtin96": ("rfid", "decode_sgtin96"),
    "encode_sgtin96": ("rfid", "encode_sgtin96"),
    "rfid_to_frame": ("rfid", "to_frame"),
    "MATERIALS": ("xray", "MATERIALS"),
    "THREAT_CLASSES": ("xray", "THREAT_CLASSES"),
    "ThreatTruth": ("xray", "ThreatTruth"),
    "XrayScan": ("xray", "XrayScan"),
    "XraySimulator": ("xray", "XraySimulator"),
    "transmission_image": ("xray", "transmission_image"),
    "xray_to_frame": ("xray", "to_frame"),
}
_MODULES = ("records", "rfid", "xray")

__all__ = [  # literal, so linters and type checkers see the exports
    "MATERIALS",
    "THREAT_CLASSES",
    "CargoDeclarationSimulator",
    "RfidSimulator",
    "ThreatTruth",
    "XrayScan",
    "XraySimulator",
    "decode_sgtin96",
    "encode_sgtin96",
    "records",
    "records_to_frame",
    "rfid",
    "rfid_to_frame",
    "transmission_image",
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
