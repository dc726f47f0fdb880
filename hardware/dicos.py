"""DICOS (NEMA IIC 1 v03): CT and DX images in as frames, Threat Detection Reports out and in.

DICOS objects are DICOM datasets with security-screening SOP classes and attributes, so pydicom reads
and writes them (its data dictionary, from DICOM PS3.6, names the DICOS (4010,xxxx) attributes):

    DICOS CT Image                      1.2.840.10008.5.1.4.1.1.501.1    -> MODALITY_CT [depth, height, width]
    DICOS Digital X-Ray, presentation   1.2.840.10008.5.1.4.1.1.501.2.1  -> MODALITY_XRAY [energies, h, w]
    DICOS Digital X-Ray, processing     1.2.840.10008.5.1.4.1.1.501.2.2  -> MODALITY_XRAY [energies, h, w]
    DICOS Threat Detection Report       1.2.840.10008.5.1.4.1.1.501.3    <- written from a Verdict;
                                                                         -> the scanner's own, with its image

A frame's payload is the stored pixel values as a raw little-endian array (not rescaled); its metadata
keeps the geometry (pixel spacing, slice thickness and spacing, image position and orientation, rows,
columns, frames, rescale slope/intercept, kVp) and the identity (SOP instance UID, scan = study
instance UID, series, frame of reference, OOI id = the bag tag, OOI type). A CT is laid out as the
DICOS SDK writes it: multi-frame, geometry in the shared and per-frame functional groups. Dual-energy
DX comes as one file per energy; ``read_frames`` stacks files of one scan into a [energies, h, w]
frame, highest kVp first (channel 0 is high energy, as the X-ray plugins expect).

TDR layout (attribute numbers from pydicom's dictionary, layout as in the DICOS SDK's CTwithTDR
example, see docs/formats.md): Alarm Decision (4010,1031), TDR Type (4010,1027), Threat Sequence
(4010,1011) of Potential Threat Objects, each with an id (4010,1010), a PTO Representation Sequence
(4010,1037: referenced image (0008,114A), Threat ROI Voxel Sequence (4010,1001) with base (4010,1004)
and extents (4010,1005) in voxels, Bounding Polygon (4010,101D) in mm) and an ATD Assessment Sequence
(4010,1038: category (4010,1012), description (4010,1013), ability (4010,1014), flag (4010,1015),
probability (4010,1016)).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    DICOSCTImageStorage,
    DICOSDigitalXRayImageStorageForPresentation,
    DICOSDigitalXRayImageStorageForProcessing,
    DICOSThreatDetectionReportStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import VENDOR_ATR_KEY, Modality
from smartcustoms.v1 import frame_pb2, results_pb2

DX_SOP_CLASSES = frozenset(
    {DICOSDigitalXRayImageStorageForPresentation, DICOSDigitalXRayImageStorageForProcessing}
)
IMAGE_SOP_CLASSES = frozenset({DICOSCTImageStorage, *DX_SOP_CLASSES})
DICOS_VERSION = "V03"
# PTO processing start, end and total time (ms): written by the DICOS SDK ("required processing time
# metrics for PTOs"), not (yet) named in pydicom's dictionary, so given here with their VRs.
PTO_PROCESSING_START, PTO_PROCESSING_END, PTO_PROCESSING_TOTAL_MS = 0x40101080, 0x40101081, 0x40101082


class DicosError(ValueError):
    """A file that is not a DICOS object this module reads, or that it cannot decode."""


@contextlib.contextmanager
def _lenient_values() -> Iterator[None]:
    """Real DICOS files carry UIDs with leading-zero components (as the SDK generates them); read them
    as they are instead of warning on every value."""
    with pydicom_config.disable_value_validation():
        yield


def _dcmread(path: str | Path, *, stop_before_pixels: bool = False) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as error:
        raise DicosError(f"{path}: not a DICOM/DICOS file ({_one_line(error)})") from None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


@contextlib.contextmanager
def _malformed_as_dicos_error(path: str | Path) -> Iterator[None]:
    """Any failure while decoding a file becomes a one-line DicosError naming it. pydicom reports a cut
    or corrupt file through many exception types (EOFError, ValueError, struct.error, KeyError ...) from
    wherever the damage is first touched, so every Exception is caught here, and only here."""
    try:
        yield
    except DicosError:
        raise
    except OSError as error:
        if error.errno is not None:  # the file system's (missing, unreadable): its message names the file
            raise
        raise DicosError(
            f"{path}: malformed DICOS file, {_one_line(error)}"
        ) from None  # pydicom's, cut short
    except Exception as error:  # see the docstring: pydicom's failures have no common base
        raise DicosError(
            f"{path}: malformed DICOS file, {type(error).__name__}: {_one_line(error)}"
        ) from None


# --------------------------------------------------------------------------- images in


@dataclass(frozen=True)
class DicosImage:
    array: np.ndarray  # CT [depth, height, width]; DX [energies, height, width]
    modality: Modality
    metadata: dict[str, str]


def read_image(path: str | Path) -> DicosImage:
    """Read a DICOS CT or DX file; DicosError (one line) for a file that is not one or is damaged."""
    with _lenient_values(), _malformed_as_dicos_error(path):
        ds = _dcmread(path)
        sop_class = str(ds.get("SOPClassUID", ""))
        if sop_class not in IMAGE_SOP_CLASSES:
            what = (
                "a Threat Detection Report" if sop_class == DICOSThreatDetectionReportStorage else sop_class
            )
            raise DicosError(f"{path}: not a DICOS CT or DX image ({what or 'no SOP class'})")
        array = _pixels(ds, path)
        is_ct = sop_class == DICOSCTImageStorage
        array = array.reshape((-1, *array.shape[-2:]))  # one frame -> [1, h, w]
        return DicosImage(array, Modality.CT if is_ct else Modality.XRAY, _image_metadata(ds, array.shape[0]))


def _pixels(ds: Dataset, path: str | Path) -> np.ndarray:
    try:
        array = ds.pixel_array
    except (RuntimeError, NotImplementedError) as error:  # compressed, decoder plugin missing
        raise DicosError(
            f"{path}: cannot decode pixel data in {ds.file_meta.TransferSyntaxUID.name} ({error}); "
            "JPEG Lossless DICOS needs a pydicom decoder plugin such as python-gdcm"
        ) from None
    except AttributeError:
        raise DicosError(f"{path}: no pixel data") from None
    except ValueError as error:  # fewer bytes than rows x columns x frames say: a cut file
        raise DicosError(f"{path}: pixel data cut short or malformed ({_one_line(error)})") from None
    if array.dtype == np.int8:
        array = array.astype(np.int16)
    return np.asarray(array.astype(array.dtype.newbyteorder("<"), copy=False))


def _image_metadata(ds: Dataset, frames: int) -> dict[str, str]:
    groups = _FunctionalGroups(ds)
    spacing = groups.find("PixelMeasuresSequence", "PixelSpacing") or ds.get("ImagerPixelSpacing")
    meta = {
        "format": "DICOS",
        "dicos_version": str(ds.get("DICOSVersion", "")),
        "sop_class_uid": str(ds.SOPClassUID),
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "")),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
        "ooi_id": str(ds.get("PatientID", "")),
        "ooi_id_type": str(ds.get("TypeOfPatientID", "")),
        "ooi_id_issuer": str(ds.get("IssuerOfPatientID", "")),
        "ooi_type": str(ds.get("OOIType", "")),
        "scan_type": str(ds.get("ScanType", "")),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "model": str(ds.get("ManufacturerModelName", "")),
        "serial_number": str(ds.get("DeviceSerialNumber", "")),
        "acquisition_datetime": _acquisition_datetime(ds),
        "rows": str(ds.Rows),
        "columns": str(ds.Columns),
        "frames": str(frames),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
        "pixel_spacing_mm": _numbers(spacing),
        "pixel_size_mm": _pixel_size(spacing),
        "slice_thickness_mm": _numbers(groups.find("PixelMeasuresSequence", "SliceThickness")),
        "spacing_between_slices_mm": _numbers(
            groups.find("PixelMeasuresSequence", "SpacingBetweenSlices") or _slice_spacing(groups.positions())
        ),
        "image_orientation": _numbers(groups.find("PlaneOrientationSequence", "ImageOrientationPatient")),
        "image_position_mm": _numbers(groups.positions()[0] if groups.positions() else None),
        "image_position_last_mm": _numbers(groups.positions()[-1] if groups.positions() else None),
        "rescale_slope": _numbers(groups.find("PixelValueTransformationSequence", "RescaleSlope")),
        "rescale_intercept": _numbers(groups.find("PixelValueTransformationSequence", "RescaleIntercept")),
        "rescale_type": str(groups.find("PixelValueTransformationSequence", "RescaleType") or ""),
        "kvp": _numbers(groups.find("CTXRayDetailsSequence", "KVP")),
    }
    return {key: value for key, value in meta.items() if value}


def _pixel_size(spacing: Any) -> str:
    """The one pixel size the X-ray plugins read (``pixel_size_mm``): the spacing of square pixels; of
    non-square ones the side of a square of the same area (``pixel_spacing_mm`` keeps both)."""
    if spacing is None or spacing == "":
        return ""
    values = [float(v) for v in (spacing if isinstance(spacing, (list, tuple, MultiValue)) else [spacing])]
    if not values or any(v <= 0 for v in values):
        return ""
    return f"{float(np.sqrt(values[0] * values[-1])):.10g}"


def _acquisition_datetime(ds: Dataset) -> str:
    if ds.get("AcquisitionDateTime"):
        return str(ds.AcquisitionDateTime)
    if ds.get("ContentDate") and ds.get("ContentTime"):
        return f"{ds.ContentDate}{ds.ContentTime}"
    return ""


class _FunctionalGroups:
    """An attribute from the first per-frame group, the shared group, or the top level (classic)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.per_frame = list(ds.get("PerFrameFunctionalGroupsSequence", []))
        self.shared = list(ds.get("SharedFunctionalGroupsSequence", []))

    def find(self, macro: str, keyword: str) -> object:
        for group in [*self.per_frame[:1], *self.shared]:
            for item in group.get(macro, []):
                if keyword in item:
                    return item.get(keyword)
        return self.ds.get(keyword)

    def positions(self) -> list[tuple[float, ...]]:
        found = [
            item.ImagePositionPatient
            for group in self.per_frame
            for item in group.get("PlanePositionSequence", [])
            if "ImagePositionPatient" in item
        ]
        if not found and "ImagePositionPatient" in self.ds:
            found = [self.ds.ImagePositionPatient]
        return [tuple(float(v) for v in position) for position in found]


def _slice_spacing(positions: list[tuple[float, ...]]) -> float | None:
    if len(positions) < 2:
        return None
    return float(np.linalg.norm(np.subtract(positions[1], positions[0])))


def _numbers(value: Any) -> str:
    """DICOM numbers as 'a,b,c' (empty when absent)."""
    if value is None or value == "":
        return ""
    values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    return ",".join(f"{float(v):.10g}" for v in values)


def read_frames(
    paths: Iterable[str | Path], *, source_id: str, first_sequence: int | None = None, control_point: str = ""
) -> list[frame_pb2.Frame]:
    """Frames from DICOS CT and DX files; DX files of one view of one scan (study instance UID,
    orientation and size) become one frame with an energy channel per file. Sequence numbers:
    ``first_sequence``, +1, ... or, when None, the acquisition time in microseconds (so a file ingested
    twice is recognised as a duplicate).

    A Threat Detection Report among the files is the scanner's own automatic threat recognition: it goes
    with the image it references, its decision and threat objects in that frame's ``vendor_atr``
    metadata (``VENDOR_ATR_KEY``; the ``vendor_atr`` plugin makes them a result). A report on several
    images (the views of a multi-view scan) goes with each, with the threat objects on that view.
    DicosError (one line) for a report any of whose images is not among the files, one that is not
    the machine's (TDR type other than MACHINE), or a second report for one image."""
    images: list[DicosImage] = []
    reports: list[tuple[str | Path, ThreatDetectionReport]] = []
    for path in paths:
        if _sop_class(path) == DICOSThreatDetectionReportStorage:
            reports.append((path, read_tdr(path)))
        else:
            images.append(read_image(path))
    frames = []
    scans = _with_reports(_stack_energies(images), reports)
    for index, (image, sequence) in enumerate(zip(scans, _time_sequences(scans), strict=True)):
        if first_sequence is not None:
            sequence = first_sequence + index
        frames.append(image_frame(image, source_id=source_id, sequence=sequence, control_point=control_point))
    return frames


def _time_sequences(scans: Sequence[DicosImage]) -> list[int]:
    """Each frame's acquisition time in microseconds, made unique: frames that share a time (the views
    of one scan) are numbered a microsecond apart in the order of (time, orientation), so that reading
    the same files again, in any order, gives the same numbers; a frame without an acquisition time is
    numbered from the clock, after the one before it."""
    sequences: list[int] = [0] * len(scans)
    timed = sorted(
        ((t, scan.metadata.get("image_orientation", ""), i) for i, scan in enumerate(scans)
         if (t := _acquired_us(scan.metadata)) is not None)
    )  # fmt: skip
    previous = None
    for acquired, _, i in timed:
        sequences[i] = acquired if previous is None else max(acquired, previous + 1)
        previous = sequences[i]
    clock = None
    for i, scan in enumerate(scans):
        if _acquired_us(scan.metadata) is None:
            now = time.time_ns() // 1000
            sequences[i] = clock = now if clock is None else max(now, clock + 1)
    return sequences


def _sop_class(path: str | Path) -> str:
    with _lenient_values(), _malformed_as_dicos_error(path):
        return str(_dcmread(path, stop_before_pixels=True).get("SOPClassUID", ""))


def _with_reports(
    scans: list[DicosImage], reports: Sequence[tuple[str | Path, ThreatDetectionReport]]
) -> list[DicosImage]:
    """``scans`` with each machine report in the metadata of the scan it references (its SOP instance
    UIDs, at the top or per threat object; else its scan instance UID)."""
    by_uid = {
        uid: index
        for index, scan in enumerate(scans)
        for uid in scan.metadata.get("sop_instance_uid", "").split(",")
        if uid
    }
    taken: dict[int, str | Path] = {}
    scans = list(scans)
    for path, report in reports:
        aborted = report.abort_flag.strip().upper() == "ABORT"  # it may then give no decision at all
        decided = report.alarm_decision in ("ALARM", "CLEAR", "UNKNOWN") or (
            aborted and not report.alarm_decision
        )
        if not decided or (report.total_objects is not None and report.total_objects != len(report.threats)):
            raise DicosError(
                f"{path}: malformed Threat Detection Report: decision {report.alarm_decision or '(none)'}, "
                f"{len(report.threats)} threat objects of {report.total_objects} counted"
            )
        if report.tdr_type.strip().upper() != "MACHINE":
            raise DicosError(
                f"{path}: a Threat Detection Report of type {report.tdr_type or '(none)'}: only the "
                "scanner's own (MACHINE) goes in, with its image"
            )
        uids = dict.fromkeys(
            [
                *report.referenced_sop_instance_uids,
                *(u for t in report.threats for u in t.referenced_sop_instance_uids),
            ]
        )
        found = {by_uid[uid] for uid in uids if uid in by_uid}
        if not found and report.study_instance_uid:
            scan_uid = report.study_instance_uid
            found = {i for i, scan in enumerate(scans) if scan.metadata.get("study_instance_uid") == scan_uid}
        if not found or (uids and any(uid not in by_uid for uid in uids)):
            named = ", ".join(uid for uid in uids if uid not in by_uid) or (
                f"scan {report.study_instance_uid or '(none)'}"
            )
            raise DicosError(
                f"{path}: the report's image ({named}) is none of the images given: give the report with "
                "its images"
            )
        for index in sorted(found):
            if index in taken:
                raise DicosError(f"{path}: a second report for one image ({taken[index]} is the first)")
            taken[index] = path
            scan = scans[index]
            own = set(scan.metadata.get("sop_instance_uid", "").split(","))
            document = vendor_atr(report, on=own if len(found) > 1 else None)
            scans[index] = DicosImage(scan.array, scan.modality, {**scan.metadata, VENDOR_ATR_KEY: document})
    return scans


def vendor_atr(report: ThreatDetectionReport, *, on: set[str] | None = None) -> str:
    """A machine report as the ``vendor_atr`` metadata of its image's frame: compact JSON.

    ``on``: the SOP instance UIDs of one of several images the report covers (the views of a
    multi-view scan): only the threat objects whose region lies on it go with it, and an object whose
    region names no image goes with each view without its region (its box could be on any of them)."""
    threats = [
        {
            "id": t.pto_id,
            "category": t.category,
            "description": t.description,
            "flag": t.assessment_flag,
            "ability": t.ability_assessment,
            "probability": t.probability
            if t.probability is not None and math.isfinite(t.probability)
            else None,
            "base": _finite(t.roi_base) if placed else None,
            "extents": _finite(t.roi_extents) if placed else None,
        }
        for t in report.threats
        for placed in [on is None or bool(t.referenced_sop_instance_uids)]
        if on is None or not t.referenced_sop_instance_uids or on & set(t.referenced_sop_instance_uids)
    ]
    document = {
        "report": report.sop_instance_uid,
        "decision": report.alarm_decision,
        "abort": report.abort_flag,
        "abort_reasons": list(report.abort_reasons),
        "algorithm": " ".join(report.algorithm),
        "decided": report.alarm_decision_time,
        "threats": threats,
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False)


def _finite(values: Sequence[float] | None) -> list[float] | None:
    """``values`` for JSON, or None when absent or not all finite (a region or score the report lacks)."""
    if not values or not all(math.isfinite(v) for v in values):
        return None
    return list(values)


def read_scan(paths: Sequence[str | Path]) -> DicosImage:
    """One X-ray scan from its DICOS DX files (one per energy, stacked highest kVp first) or a CT."""
    scans = _stack_energies([read_image(path) for path in paths])
    if len(scans) != 1:
        names = ", ".join(str(p) for p in paths)
        raise DicosError(
            f"{names}: {len(scans)} scans or views (the files of one view of a scan share its study UID, "
            "orientation and size), not one"
        )
    return scans[0]


_ViewKey = tuple[str, str, tuple[int, ...]]  # scan instance UID, orientation, size


def _stack_energies(images: list[DicosImage]) -> list[DicosImage]:
    """DX images of one view of one scan (scan instance UID, orientation and size) stacked as energies;
    the views of a multi-view scan (another orientation) stay frames of their own. Orientations are
    compared to 1e-4; a file that gives none joins its scan's one oriented view of its size."""
    groups: dict[_ViewKey, list[DicosImage]] = {}
    order: list[_ViewKey | int] = []
    for index, image in enumerate(images):
        scan = image.metadata.get("study_instance_uid", "")
        if image.modality is not Modality.XRAY or not scan:
            order.append(index)
            continue
        key = (
            scan,
            _orientation_key(image.metadata.get("image_orientation", "")),
            tuple(image.array.shape[1:]),
        )
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(image)
    for key in [k for k in groups if not k[1]]:  # no orientation: the one oriented view it belongs to
        views = [k for k in groups if k[1] and (k[0], k[2]) == (key[0], key[2])]
        if len(views) == 1:
            groups[views[0]].extend(groups.pop(key))
            order.remove(key)
    return [images[key] if isinstance(key, int) else _energies(groups[key]) for key in order]


def _orientation_key(text: str) -> str:
    """Direction cosines as compared: rounded to 1e-4, -0 as 0; "" when absent or not numbers."""
    try:
        return ",".join(f"{round(float(v), 4) + 0.0:g}" for v in text.split(",") if v.strip())
    except ValueError:
        return ""


def _energies(members: list[DicosImage]) -> DicosImage:
    if len(members) == 1:
        return members[0]
    ordered = sorted(members, key=lambda image: -float(image.metadata.get("kvp", "0") or 0))
    meta = dict(ordered[0].metadata)
    for key in ("sop_instance_uid", "kvp"):
        meta[key] = ",".join(image.metadata.get(key, "") for image in ordered)
    meta["energies"] = str(len(ordered))
    if len(ordered) == 2:
        meta["channels"] = "high,low"
    return DicosImage(np.concatenate([image.array for image in ordered]), Modality.XRAY, meta)


def image_frame(
    image: DicosImage, *, source_id: str, sequence: int, frame_id: str = "", control_point: str = ""
) -> frame_pb2.Frame:
    """A frame of a DICOS image: raw little-endian array payload, geometry and identity in metadata."""
    frame = array_frame(
        image.array,
        modality=image.modality,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id,
        conveyance_id=image.metadata.get("ooi_id", ""),
        control_point=control_point,
        metadata=image.metadata,
    )
    acquired = _acquired_us(image.metadata)
    if acquired is not None:
        frame.capture_time.FromMicroseconds(acquired)
    return frame


def _time_sequence(meta: Mapping[str, str]) -> int:
    acquired = _acquired_us(meta)
    return acquired if acquired is not None else time.time_ns() // 1000


def _acquired_us(meta: Mapping[str, str]) -> int | None:
    text = meta.get("acquisition_datetime", "")
    if not text:
        return None
    return (_parse_dt(text) - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _parse_dt(text: str) -> dt.datetime:
    value = pydicom.valuerep.DT(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- images out


@dataclass(frozen=True)
class Geometry:
    """Where the pixels are: spacing (row, column) and slice spacing in mm, first pixel's position,
    direction cosines of a row and of a column (DICOM Image Orientation)."""

    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0)
    slice_spacing_mm: float = 1.0
    image_position_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    image_orientation: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> Geometry:
        """The geometry recorded in a frame's metadata (defaults for what is missing)."""

        def floats(key: str, default: tuple[float, ...]) -> tuple[float, ...]:
            text = meta.get(key, "")
            values = tuple(float(v) for v in text.split(",")) if text else ()
            return values if len(values) == len(default) else default

        default = cls()
        return cls(
            pixel_spacing_mm=floats("pixel_spacing_mm", default.pixel_spacing_mm),  # type: ignore[arg-type]  # length checked
            slice_spacing_mm=floats("spacing_between_slices_mm", (default.slice_spacing_mm,))[0],
            image_position_mm=floats("image_position_mm", default.image_position_mm),  # type: ignore[arg-type]  # length checked
            image_orientation=floats("image_orientation", default.image_orientation),  # type: ignore[arg-type]  # length checked
        )

    def to_mm(self, voxel: Sequence[float]) -> np.ndarray:
        """Patient/baggage coordinates (mm) of a (column, row, slice) voxel position."""
        row_dir, column_dir = np.asarray(self.image_orientation[:3]), np.asarray(self.image_orientation[3:])
        x, y, z = voxel
        return np.asarray(self.image_position_mm) + (
            row_dir * x * self.pixel_spacing_mm[1]
            + column_dir * y * self.pixel_spacing_mm[0]
            + np.cross(row_dir, column_dir) * z * self.slice_spacing_mm
        )


@dataclass(frozen=True)
class Identity:
    """Who and what was scanned. Empty UIDs are generated."""

    ooi_id: str = ""  # Object of Inspection id: bag tag, container number ...
    ooi_id_type: str = "TEXT"  # TEXT, RFID, BARCODE, MRP
    ooi_id_issuer: str = ""
    ooi_type: str = "BAGGAGE"
    study_instance_uid: str = ""  # DICOS "scan instance UID"
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    acquired: dt.datetime | None = None
    manufacturer: str = "smartcustoms"
    model: str = ""  # Manufacturer's Model Name; "": not written
    serial_number: str = ""  # Device Serial Number; "": not written


_BITS = {
    np.dtype(np.uint8): (8, 0),
    np.dtype(np.uint16): (16, 0),
    np.dtype(np.int16): (16, 1),
    np.dtype(np.uint32): (32, 0),
    np.dtype(np.int32): (32, 1),
}


def write_ct(
    path: str | Path,
    volume: np.ndarray,
    *,
    geometry: Geometry = Geometry(),
    identity: Identity = Identity(),
    slice_thickness_mm: float | None = None,
    rescale_slope: float = 1.0,
    rescale_intercept: float = 0.0,
    rescale_type: str = "HU",
    kvp: float | None = None,
) -> Dataset:
    """Write a DICOS CT Image of a [depth, height, width] integer volume, laid out as the DICOS SDK does."""
    if volume.ndim != 3:
        raise ValueError(f"a CT volume is [depth, height, width], got shape {volume.shape}")
    ds = _image_base(DICOSCTImageStorage, "CT", identity)
    ds.ImageType = ["ORIGINAL", "PHOTOELECTRIC", "VOLUME", "NONE"]
    shared = Dataset()
    shared.PixelMeasuresSequence = _items(
        PixelSpacing=[_ds(v) for v in geometry.pixel_spacing_mm],
        SliceThickness=_ds(geometry.slice_spacing_mm if slice_thickness_mm is None else slice_thickness_mm),
        SpacingBetweenSlices=_ds(geometry.slice_spacing_mm),
    )
    shared.PlaneOrientationSequence = _items(
        ImageOrientationPatient=[_ds(v) for v in geometry.image_orientation]
    )
    shared.PixelValueTransformationSequence = _items(
        RescaleIntercept=_ds(rescale_intercept), RescaleSlope=_ds(rescale_slope), RescaleType=rescale_type
    )
    if kvp is not None:
        shared.CTXRayDetailsSequence = _items(KVP=_ds(kvp))
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for index in range(volume.shape[0]):
        group = Dataset()
        group.PlanePositionSequence = _items(
            ImagePositionPatient=[_ds(v) for v in geometry.to_mm((0, 0, index))]
        )
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    _set_pixels(ds, volume, multi_frame=True)
    return _save(ds, path)


def write_dx(
    path: str | Path,
    image: np.ndarray,
    *,
    geometry: Geometry = Geometry(),
    identity: Identity = Identity(),
    kvp: float | None = None,
    for_processing: bool = True,
    rescale_slope: float = 1.0,
    rescale_intercept: float = 0.0,
) -> Dataset:
    """Write a DICOS DX image of one energy ([height, width] integers). For dual energy write one file per
    energy with the same ``identity`` (same scan): ``read_frames`` stacks them."""
    if image.ndim != 2:
        raise ValueError(f"a DX image is [height, width] (one file per energy), got shape {image.shape}")
    if for_processing:
        sop_class = DICOSDigitalXRayImageStorageForProcessing
    else:
        sop_class = DICOSDigitalXRayImageStorageForPresentation
    ds = _image_base(sop_class, "DX", identity)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PROCESSING" if for_processing else "FOR PRESENTATION"
    if kvp is not None:
        ds.KVP = _ds(kvp)
    ds.ImagePositionPatient = [_ds(v) for v in geometry.image_position_mm]
    ds.ImageOrientationPatient = [_ds(v) for v in geometry.image_orientation]
    ds.PixelSpacing = [_ds(v) for v in geometry.pixel_spacing_mm]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = _ds(rescale_intercept), _ds(rescale_slope), "US"
    _set_pixels(ds, image[np.newaxis], multi_frame=False)
    return _save(ds, path)


def _image_base(sop_class: UID, modality: str, identity: Identity) -> Dataset:
    ds = _base(sop_class, modality, identity)
    acquired = identity.acquired or dt.datetime.now(dt.UTC)
    ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S.%f%z")
    ds.ContentDate, ds.ContentTime = acquired.strftime("%Y%m%d"), acquired.strftime("%H%M%S.%f")
    ds.AcquisitionStatus = "SUCCESSFUL"
    ds.ScanType = "OPERATIONAL"
    return ds


def _base(sop_class: UID, modality: str, identity: Identity) -> Dataset:
    """SOP common, OOI (DICOS maps it to the DICOM Patient attributes), scan, series, equipment."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    now = dt.datetime.now(dt.UTC)
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.InstanceCreationDate = ds.StudyDate = ds.SeriesDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = ds.StudyTime = ds.SeriesTime = now.strftime("%H%M%S.%f")
    ds.Manufacturer = identity.manufacturer
    if identity.model:
        ds.ManufacturerModelName = identity.model
    if identity.serial_number:
        ds.DeviceSerialNumber = identity.serial_number
    ds.PatientID = identity.ooi_id
    ds.IssuerOfPatientID = identity.ooi_id_issuer
    ds.TypeOfPatientID = identity.ooi_id_type
    ds.PatientSex = "U"
    ds.StudyInstanceUID = identity.study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = identity.series_instance_uid or generate_uid()
    ds.FrameOfReferenceUID = identity.frame_of_reference_uid or generate_uid()
    ds.InstanceNumber = 1
    ds.DICOSVersion = DICOS_VERSION
    ds.OOIType = identity.ooi_type
    return ds


def _set_pixels(ds: Dataset, frames: np.ndarray, *, multi_frame: bool) -> None:
    bits = _BITS.get(frames.dtype.newbyteorder("="))
    if bits is None:
        raise ValueError(f"pixel type {frames.dtype} is not written; use (u)int8/16/32")
    ds.BitsAllocated = ds.BitsStored = bits[0]
    ds.HighBit, ds.PixelRepresentation = bits[0] - 1, bits[1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    if multi_frame:
        ds.NumberOfFrames = frames.shape[0]
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.PixelData = np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<")).tobytes()


def _items(**attributes: object) -> DicomSequence:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return DicomSequence([item])


def _ds(value: float) -> str:
    """A number as a DICOM decimal string (at most 16 characters)."""
    return f"{float(value):.10g}"


def _save(ds: Dataset, path: str | Path) -> Dataset:
    ds.save_as(path, enforce_file_format=True)
    return ds


# --------------------------------------------------------------------------- threat detection reports

ALARM_DECISIONS: Mapping[int, str] = {
    results_pb2.DECISION_CLEAR: "CLEAR",
    results_pb2.DECISION_ALARM: "ALARM",
    results_pb2.DECISION_MANUAL_INSPECTION: "UNKNOWN",  # the system could not decide: an officer must look
    results_pb2.DECISION_UNSPECIFIED: "UNKNOWN",
}
_CONTRABAND: tuple[str, ...] = ("cigarettes", "tobacco", "liquor", "drugs", "narcotics", "phone")
_CONTRABAND += ("communication_device", "counterfeit", "ivory", "currency", "contraband")
# Detection labels to DICOS Threat Category defined terms (EXPLOSIVE, PI = prohibited item, CONTRABAND,
# ANOMALY, LAPTOP, OTHER, PHARMACEUTICAL); the label itself goes in the category description.
THREAT_CATEGORIES: Mapping[str, str] = {
    **dict.fromkeys(
        ("firearm", "gun", "weapon", "knife", "sharp", "blunt", "ammunition", "prohibited_item"), "PI"
    ),
    **dict.fromkeys(("explosive", "detonator"), "EXPLOSIVE"),
    **dict.fromkeys(_CONTRABAND, "CONTRABAND"),
    "laptop": "LAPTOP",
    **dict.fromkeys(("pharmaceutical", "medicine"), "PHARMACEUTICAL"),
    **dict.fromkeys(
        ("dense_object", "anomaly", "concealment", "hidden_compartment", "extra_load", "undeclared_goods"),
        "ANOMALY",
    ),
}
# A dense region is one the X-ray cannot see through: the ATD's ability was shielded.
SHIELDING_LABELS = frozenset({"dense_object"})


def threat_category(label: str) -> str:
    """The DICOS Threat Category of a detection label ('firearm' -> 'PI'; unknown -> 'OTHER')."""
    name = label.strip().lower().replace("-", "_").replace(" ", "_")
    if name in THREAT_CATEGORIES:
        return THREAT_CATEGORIES[name]
    return next((THREAT_CATEGORIES[word] for word in name.split("_") if word in THREAT_CATEGORIES), "OTHER")


@dataclass(frozen=True)
class ThreatObject:
    """One Potential Threat Object of a TDR."""

    pto_id: int
    category: str = ""
    description: str = ""
    assessment_flag: str = ""  # HIGH_THREAT, THREAT, NO_THREAT, UNKNOWN
    ability_assessment: str = ""  # NO_INTERFERENCE, SHIELD
    probability: float | None = None
    roi_base: tuple[float, ...] | None = None  # voxels (x = column, y = row, z = slice)
    roi_extents: tuple[float, ...] | None = None  # voxels
    bounding_polygon: tuple[tuple[float, ...], ...] = ()  # mm; two points: opposite box corners
    referenced_sop_instance_uids: tuple[str, ...] = ()
    mass: float | None = None
    density: float | None = None
    location_description: str = ""


@dataclass(frozen=True)
class ThreatDetectionReport:
    sop_instance_uid: str
    alarm_decision: str  # ALARM, CLEAR, UNKNOWN
    tdr_type: str  # MACHINE, OPERATOR, GROUND TRUTH ...
    abort_flag: str
    abort_reasons: tuple[str, ...]
    alarm_decision_time: str
    algorithm: tuple[str, ...]
    ooi_id: str
    ooi_type: str
    study_instance_uid: str
    referenced_sop_instance_uids: tuple[str, ...]
    total_objects: int | None
    alarm_objects: int | None
    threats: tuple[ThreatObject, ...]


def read_tdr(path: str | Path) -> ThreatDetectionReport:
    """Read a DICOS Threat Detection Report; DicosError (one line) for a file that is not one or is
    damaged."""
    with _lenient_values(), _malformed_as_dicos_error(path):
        ds = _dcmread(path)
        if _cut_inside_a_value(ds):
            raise DicosError(f"{path}: malformed DICOS file, cut short inside its last element")
        if str(ds.get("SOPClassUID", "")) != DICOSThreatDetectionReportStorage:
            raise DicosError(
                f"{path}: not a DICOS Threat Detection Report ({ds.get('SOPClassUID', 'no SOP class')})"
            )
        return ThreatDetectionReport(
            sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
            alarm_decision=str(ds.get("AlarmDecision", "")),
            tdr_type=str(ds.get("TDRType", "")),
            abort_flag=str(ds.get("AbortFlag", "")),
            abort_reasons=_strings(ds.get("AbortReason")),
            alarm_decision_time=str(ds.get("AlarmDecisionTime", "")),
            algorithm=_strings(ds.get("ThreatDetectionAlgorithmAndVersion")),
            ooi_id=str(ds.get("PatientID", "")),
            ooi_type=str(ds.get("OOIType", "")),
            study_instance_uid=str(ds.get("StudyInstanceUID", "")),
            referenced_sop_instance_uids=_referenced(ds.get("ReferencedStudySequence", [])),
            total_objects=_int_or_none(ds.get("NumberOfTotalObjects")),
            alarm_objects=_int_or_none(ds.get("NumberOfAlarmObjects")),
            threats=tuple(_threat_object(item) for item in ds.get("ThreatSequence", [])),
        )


def _cut_inside_a_value(ds: Dataset) -> bool:
    """Whether the file ends inside its last element's value: pydicom then reads the bytes there are
    (a decision of "ALAR") where a cut anywhere else fails to parse."""
    tags = list(ds.keys())
    if not tags:
        return False
    last = ds.get_item(tags[-1])
    length, value = getattr(last, "length", None), getattr(last, "value", None)
    undefined = 0xFFFFFFFF
    return (
        isinstance(value, bytes) and isinstance(length, int) and length != undefined and len(value) < length
    )


def _threat_object(item: Dataset) -> ThreatObject:
    representations = item.get("PTORepresentationSequence", [])
    representation = representations[0] if representations else Dataset()
    voxels = representation.get("ThreatROIVoxelSequence", [])
    voxel = voxels[0] if voxels else Dataset()
    assessments = item.get("ATDAssessmentSequence", [])
    assessment = assessments[0] if assessments else Dataset()
    polygon = _floats(representation.get("BoundingPolygon")) or ()
    return ThreatObject(
        pto_id=int(item.get("PotentialThreatObjectID", 0)),
        category=str(assessment.get("ThreatCategory", "")),
        description=str(assessment.get("ThreatCategoryDescription", "")),
        assessment_flag=str(assessment.get("ATDAssessmentFlag", "")),
        ability_assessment=str(assessment.get("ATDAbilityAssessment", "")),
        probability=_float_or_none(assessment.get("ATDAssessmentProbability")),
        roi_base=_floats(voxel.get("ThreatROIBase")),
        roi_extents=_floats(voxel.get("ThreatROIExtents")),
        bounding_polygon=tuple(polygon[i : i + 3] for i in range(0, len(polygon) - 2, 3)),
        referenced_sop_instance_uids=_referenced(representation.get("ReferencedInstanceSequence", [])),
        mass=_float_or_none(representation.get("Mass")),
        density=_float_or_none(representation.get("Density")),
        location_description=str(representation.get("PTOLocationDescription", "")),
    )


def write_tdr(
    path: str | Path, verdict: results_pb2.Verdict, source: Mapping[str, str] | None = None
) -> Dataset:
    """Write a verdict as a DICOS TDR (TDR type MACHINE), one PTO per detection.

    ``source`` is the metadata of the frame the verdict is about (``read_image``/``read_frames``): it
    gives the referenced image's SOP instance UID(s), the scan, series and frame of reference, the OOI
    and the geometry that turns voxel boxes into the bounding polygon in mm. Without it the report
    references no image and takes the conveyance id as the OOI id.
    """
    ds = tdr_dataset(verdict, source or {})
    ds.save_as(path, enforce_file_format=True)
    return ds


def tdr_dataset(verdict: results_pb2.Verdict, source: Mapping[str, str]) -> Dataset:
    identity = Identity(
        ooi_id=source.get("ooi_id") or verdict.conveyance_id,
        ooi_id_type=source.get("ooi_id_type") or "TEXT",
        ooi_id_issuer=source.get("ooi_id_issuer", ""),
        ooi_type=source.get("ooi_type") or "BAGGAGE",
        study_instance_uid=source.get("study_instance_uid", ""),
        series_instance_uid=source.get("series_instance_uid", ""),
        frame_of_reference_uid=source.get("frame_of_reference_uid", ""),
    )
    ds = _base(DICOSThreatDetectionReportStorage, "TDR", identity)
    decided = _datetime(verdict.decided_time) or dt.datetime.now(dt.UTC)
    accepted = _datetime(verdict.accepted_time) or decided
    ds.ContentDate, ds.ContentTime = decided.strftime("%Y%m%d"), decided.strftime("%H%M%S.%f")
    references = _source_references(source)
    if references:
        ds.ReferencedStudySequence = _reference_items(references)  # (0008,1110), as the DICOS SDK writes it
    geometry = Geometry.from_metadata(source)
    detections = [(result, d) for result in verdict.results for d in result.detections]
    threats = [
        _threat_item(number, result, detection, references, geometry, (accepted, decided))
        for number, (result, detection) in enumerate(detections, start=1)
    ]
    ds.ThreatSequence = DicomSequence(threats)
    manual = verdict.decision in (results_pb2.DECISION_MANUAL_INSPECTION, results_pb2.DECISION_UNSPECIFIED)
    ds.AbortFlag = "ABORT" if manual else "SUCCESS"
    if manual and "timeout" in verdict.fallback_reason.lower():
        ds.AbortReason = "TIMEOUT"
    ds.TDRType = "MACHINE"
    ds.ThreatDetectionAlgorithmAndVersion = _algorithm(verdict)
    ds.AlarmDecisionTime = decided.strftime("%Y%m%d%H%M%S.%f%z")
    ds.AlarmDecision = ALARM_DECISIONS.get(verdict.decision, "UNKNOWN")
    ds.NumberOfTotalObjects = len(threats)
    ds.NumberOfAlarmObjects = sum(
        t.ATDAssessmentSequence[0].ATDAssessmentFlag in ("THREAT", "HIGH_THREAT") for t in threats
    )
    ds.AcquisitionStatus = "SUCCESSFUL"
    ds.ScanType = "OPERATIONAL"
    ds.TotalProcessingTime = (decided - accepted).total_seconds() * 1000
    ds.AdditionalScreeningPerformed = "NO"
    ds.ImageScaleRepresentation = 1.0
    return ds


def _threat_item(
    number: int,
    result: results_pb2.PluginResult,
    detection: results_pb2.Detection,
    references: list[tuple[str, str]],
    geometry: Geometry,
    times: tuple[dt.datetime, dt.datetime],
) -> Dataset:
    item = Dataset()
    item.PotentialThreatObjectID = number
    representation = Dataset()
    if references:
        representation.ReferencedInstanceSequence = _reference_items(references)
    roi = _roi(detection)
    if roi is not None:
        base, extents = roi
        representation.ThreatROIVoxelSequence = _items(
            ThreatROIBase=list(base), ThreatROIExtents=list(extents), ThreatROIBitmap=b""
        )  # an empty bitmap: the whole box is the PTO
        corners = [geometry.to_mm(c) for c in _box_corners(base, extents)]
        representation.BoundingPolygon = [
            float(v) for v in (*np.min(corners, axis=0), *np.max(corners, axis=0))
        ]
    item.PTORepresentationSequence = DicomSequence([representation])
    assessment = Dataset()
    assessment.ThreatCategory = threat_category(detection.label)
    assessment.ThreatCategoryDescription = (
        f"{detection.label}: {detection.explanation}" if detection.explanation else detection.label
    )
    assessment.ATDAbilityAssessment = "SHIELD" if detection.label in SHIELDING_LABELS else "NO_INTERFERENCE"
    assessment.ATDAssessmentFlag = _assessment_flag(result.decision, detection.score)
    assessment.ATDAssessmentProbability = float(detection.score)
    item.ATDAssessmentSequence = DicomSequence([assessment])
    started, ended = times
    item.add_new(PTO_PROCESSING_START, "DT", started.strftime("%Y%m%d%H%M%S.%f"))
    item.add_new(PTO_PROCESSING_END, "DT", ended.strftime("%Y%m%d%H%M%S.%f"))
    item.add_new(PTO_PROCESSING_TOTAL_MS, "FL", result.duration_seconds * 1000)
    return item


def _assessment_flag(decision: int, score: float) -> str:
    if decision == results_pb2.DECISION_ALARM:
        return "HIGH_THREAT" if score >= 0.9 else "THREAT"
    return "NO_THREAT" if decision == results_pb2.DECISION_CLEAR else "UNKNOWN"


def _roi(detection: results_pb2.Detection) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Voxel base and extents (x, y, z) of a detection's region: a 2D box is one slice deep."""
    region = detection.WhichOneof("region")
    if region == "box":
        box = detection.box
        return (box.x_min, box.y_min, 0.0), (box.x_max - box.x_min, box.y_max - box.y_min, 1.0)
    if region == "volume":
        v = detection.volume
        return (v.x_min, v.y_min, v.z_min), (v.x_max - v.x_min, v.y_max - v.y_min, v.z_max - v.z_min)
    return None


def _box_corners(base: Sequence[float], extents: Sequence[float]) -> list[tuple[float, ...]]:
    depth = extents[2] if extents[2] > 1 else 0.0  # a 2D box lies in the image plane
    return [
        (base[0] + dx * extents[0], base[1] + dy * extents[1], base[2] + dz * depth)
        for dx in (0, 1)
        for dy in (0, 1)
        for dz in (0, 1)
    ]


def _algorithm(verdict: results_pb2.Verdict) -> list[str]:
    try:
        version = package_metadata.version("smartcustoms")
    except package_metadata.PackageNotFoundError:
        version = "unknown"
    plugins = [f"{r.plugin}={r.plugin_version}"[:64] for r in verdict.results if r.plugin]
    return ["smartcustoms", version, *plugins]


def _source_references(source: Mapping[str, str]) -> list[tuple[str, str]]:
    sop_class = source.get("sop_class_uid", "")
    instances = [uid for uid in source.get("sop_instance_uid", "").split(",") if uid]
    return [(sop_class, uid) for uid in instances] if sop_class else []


def _reference_items(references: list[tuple[str, str]]) -> DicomSequence:
    items = []
    for sop_class, sop_instance in references:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_instance
        items.append(item)
    return DicomSequence(items)


def _referenced(items: Iterable[Dataset]) -> tuple[str, ...]:
    return tuple(str(item.ReferencedSOPInstanceUID) for item in items if "ReferencedSOPInstanceUID" in item)


def _datetime(timestamp: object) -> dt.datetime | None:
    seconds, nanos = getattr(timestamp, "seconds", 0), getattr(timestamp, "nanos", 0)
    if not seconds and not nanos:
        return None
    return dt.datetime.fromtimestamp(seconds + nanos / 1e9, dt.UTC)


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    return tuple(float(v) for v in values)


def _float_or_none(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _strings(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple, MultiValue)) else (str(value),)
