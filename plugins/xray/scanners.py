"""The calibration each frame is read with, when a site has several scanners.

Each X-ray scanner (a lane, a make, a tube setting) is calibrated from its own air and step-wedge scans:
``smartcustoms calibrate xray ... --source PATTERN [--kvp HIGH,LOW] --out FILE`` adds its calibration to
``FILE``, replacing the one for the same patterns and voltages, and the detector's ``calibrations_file``
setting names that file::

    {"scanners": [
      {"name": "lane-1", "sources": ["lane-1-*"], "kvp": "", "calibration": {"ratio_metal": 2.1, ...}},
      {"name": "hall-b 160/80", "sources": ["hall-b-*"], "kvp": "160,80", "calibration": {...}}
    ]}

A frame is read with the first scanner whose patterns (``fnmatch`` globs) match its source id and,
when the scanner names tube voltages, whose ``kvp`` metadata (as DICOS images give it, high energy
first) names the same, and, when it names the machine (``"device": {"manufacturer": ..., "model": ...,
"serial_number": ...}``, globs too), whose metadata of those names matches each: DICOS import gives
them from Manufacturer, Manufacturer's Model Name and Device Serial Number, and a vendor sends them with
its frames. Any other frame is read with the plugin's own ``calibration`` setting. A scanner's
calibration holds the fields it measured (``materials.Calibration``), over the ``calibration`` setting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from smartcustoms.plugins.xray.materials import checked_calibration

DEVICE_KEYS = ("manufacturer", "model", "serial_number")  # frame metadata naming the machine

__all__ = ["DEVICE_KEYS", "Scanner", "add_scanner", "default_name", "kvp_key", "load_scanners", "scanner_for"]


@dataclass(frozen=True)
class Scanner:
    """One scanner's calibration and the frames it applies to."""

    name: str
    sources: tuple[str, ...]
    calibration: Mapping[str, Any] = field(default_factory=dict)
    kvp: str = ""  # "160,80": only frames whose tube voltages are these; "": any
    device: Mapping[str, str] = field(default_factory=dict)  # DEVICE_KEYS -> glob: only that machine's

    def matches(self, source_id: str, metadata: Mapping[str, str] | None = None) -> bool:
        """Whether a frame of ``source_id`` with ``metadata`` (its ``kvp`` and DEVICE_KEYS) is this
        scanner's."""
        metadata = metadata or {}
        if self.kvp and kvp_key(metadata.get("kvp", "")) != self.kvp:
            return False
        if any(not fnmatchcase(metadata.get(key, ""), glob) for key, glob in self.device.items()):
            return False
        return any(fnmatchcase(source_id, pattern) for pattern in self.sources)

    def as_dict(self) -> dict[str, Any]:
        document = {
            "name": self.name,
            "sources": list(self.sources),
            "kvp": self.kvp,
            "calibration": dict(self.calibration),
        }
        if self.device:  # written only when given: files of scanners without stay as they were
            document["device"] = dict(self.device)
        return document


def kvp_key(text: str) -> str:
    """Tube voltages compared as numbers, highest first (DICOS frames list their files' voltages that
    way): "80, 160.0" -> "160,80"; "" for none or anything that is not a list of finite numbers."""
    try:
        values = sorted((float(v) for v in str(text).split(",") if v.strip()), reverse=True)
    except ValueError:
        return ""
    if not all(math.isfinite(v) for v in values):
        return ""
    return ",".join(f"{v:g}" for v in values)


def default_name(sources: Sequence[str], kvp: str, device: Mapping[str, str] | None = None) -> str:
    """A scanner's name when it is given none: its patterns, its tube voltages and the machine it
    names, if it does."""
    key = kvp_key(kvp)
    machine = " ".join(device[k] for k in DEVICE_KEYS if device and k in device)
    return ",".join(sources) + (f" {key} kV" if key else "") + (f" {machine}" if machine else "")


def scanner_for(
    scanners: Sequence[Scanner], source_id: str, metadata: Mapping[str, str] | None = None
) -> Scanner | None:
    """The first scanner a frame of ``source_id`` (and ``metadata``: tube voltages, machine) belongs to."""
    return next((s for s in scanners if s.matches(source_id, metadata)), None)


def load_scanners(path: str | Path) -> tuple[Scanner, ...]:
    """The scanners of a calibrations file; ValueError naming the file and the entry at fault."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"calibrations file {path}: {' '.join(str(error).split())}") from None
    if not isinstance(document, dict) or not isinstance(document.get("scanners"), list):
        raise ValueError(f'calibrations file {path}: expected {{"scanners": [...]}}')
    where = f"calibrations file {path}"
    scanners = tuple(_scanner(item, f"{where}, scanner {n}") for n, item in enumerate(document["scanners"]))
    _check_names(scanners, where)
    return scanners


def _check_names(scanners: Sequence[Scanner], where: str) -> None:
    """Each frame's detections name the scanner that read it: two scanners may not share a name."""
    seen: dict[str, int] = {}
    for n, scanner in enumerate(scanners):
        if scanner.name in seen:
            raise ValueError(
                f"{where}: scanners {seen[scanner.name]} and {n} are both named {scanner.name!r}"
            )
        seen[scanner.name] = n


def _scanner(item: Any, where: str) -> Scanner:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: not an object")
    sources = item.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(p, str) and p for p in sources):
        raise ValueError(f"{where}: sources must be a non-empty list of source id patterns")
    calibration: dict[str, float] = item.get("calibration")  # type: ignore[assignment]  # checked next
    try:
        checked_calibration(calibration)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    kvp = str(item.get("kvp", "") or "")
    if kvp and not kvp_key(kvp):
        raise ValueError(f"{where}: kvp must be tube voltages such as '160,80', got {kvp!r}")
    device = item.get("device", {})
    if not isinstance(device, dict) or not all(
        key in DEVICE_KEYS and isinstance(glob, str) and glob for key, glob in device.items()
    ):
        raise ValueError(f"{where}: device must be an object of {', '.join(DEVICE_KEYS)} patterns")
    name = str(item.get("name") or default_name(sources, kvp, device))
    return Scanner(name, tuple(sources), dict(calibration), kvp_key(kvp), dict(device))


def add_scanner(path: str | Path, scanner: Scanner) -> tuple[Scanner, ...]:
    """Write ``scanner`` into the calibrations file at ``path`` (made if missing), in place of one with
    the same patterns, voltages and machine, else last; returns the file's scanners."""
    path = Path(path)
    kept = load_scanners(path) if path.exists() else ()
    same = [s for s in kept if _selector(s) == _selector(scanner)]
    scanners = tuple(scanner if s in same else s for s in kept) if same else (*kept, scanner)
    _check_names(scanners, f"calibrations file {path}")  # before writing: the file stays readable
    document = {"scanners": [s.as_dict() for s in scanners]}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return scanners


def _selector(scanner: Scanner) -> tuple[Any, ...]:
    """What picks a scanner's frames: two scanners alike in it are one scanner calibrated again."""
    return scanner.sources, scanner.kvp, sorted(scanner.device.items())
