"""xray_detector: the X-ray auto-detector (Smart Customs system 1) on dual-energy baggage images.

The hook class loads the ``xray-library`` artefact (threat library and fitted model, built by
``smartcustoms library build xray``) once per hosting process and hands each frame to an
``XrayDetector``. See docs/detectors.md for the settings, the seeds behind the library and the
thresholds, and the evaluation (``smartcustoms eval xray``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.types import (
    VEHICLE_SCAN_KEYS,
    Assessment,
    Decision,
    Detection,
    Modality,
    PluginSpec,
)
from smartcustoms.plugins.xray.detector import XrayDetector
from smartcustoms.plugins.xray.learned import NET_DIR, LearnedDetector
from smartcustoms.plugins.xray.library import (
    ARTEFACT_NAME,
    FULL_SCALE,
    LibraryEntry,
    library_folder,
    load_library,
    load_library_dir,
)
from smartcustoms.plugins.xray.materials import Calibration, GainMapMismatch, over_basis, pixel_spacing
from smartcustoms.plugins.xray.scanners import load_scanners, scanner_for

MISMATCH = "calibration_mismatch"  # a frame its scanner's gain map does not fit: manual inspection

SPEC = PluginSpec(
    name="xray_detector",
    version="1.1.0",
    consumes=frozenset({Modality.XRAY}),
    description="X-ray auto-detector: firearms, knives, cigarettes, phones against a threat image library",
    excludes_metadata=VEHICLE_SCAN_KEYS,  # portal scans of vehicles go to vehicle_compare
    artefacts=(ARTEFACT_NAME,),
    default_settings={
        # tuned on TUNING_SEEDS (python -m smartcustoms.plugins.xray.tools.tune, see docs/detectors.md)
        "thresholds": {"firearm": 0.02, "knife": 0.1132, "phone": 0.1356, "cigarettes": 0.02},
        "default_threshold": 0.5,  # for classes added through library_dirs
        # "library": the threat library's templates and verifiers; "learned": the network in
        # plugins/xray/net (learned.py, trained by tools/train_net.py); "both": either one's detections
        "method": "library",
        "learned_thresholds": {},  # overrides of the network's per-class thresholds (its card's)
        "library_dir": "",  # the xray-library artefact; "" = <artefact root>/xray-library
        "library_dirs": [],  # extra library folders (labels.csv + .npy signatures)
        "texture_label": "cigarettes",  # the class found by its periodic texture, not by shape
        "texture": {},  # overrides of TextureSettings (period_mm, cap_cm, window_mm, threshold, ...)
        "search_floor": 3.0,  # whitened matched-filter score a peak needs to be verified
        "peaks_per_class": 6,
        "search_templates_per_class": 3,
        "overlap_iou": 0.3,  # overlapping detections of any classes: the higher score stays
        "shared_metal": 0.3,  # ... and so it does when this share of one's metal lies in the other's box
        "pixel_size_mm": 0.0,  # 0: the frame's pixel_size_mm metadata, else 800 mm / image height
        "calibration": {},  # overrides of materials.Calibration
        # a site's scanners, each with the calibration `smartcustoms calibrate xray --source` measured, for
        # the frames of its source ids (and tube voltages): scanners.py; "" = every frame with the above
        "calibrations_file": "",
        "sticks_per_carton": 200,
        "carton_layer_strengths": [0.445, 0.672],  # texture strength of 1 and 2 cartons deep (docs)
        "duty_hkd_per_1000_sticks": 3306.0,  # Hong Kong tobacco duty on cigarettes since 28 Feb 2024
        "warm_up_shape": [2, 1024, 2048],  # the frames' shape: templates are prepared for it at warm-up
        # ... and the pixel size the scanners report (the simulated scanner's frames say 0.7812); 0: as a
        # frame without pixel_size_mm is read. Templates are prepared per pixel size.
        "warm_up_pixel_size_mm": 0.7812,
    },
)


class XrayDetectorPlugin(Plugin):
    """The hook class: one detector, with its library and model loaded, per hosting process."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        settings = {**SPEC.default_settings, **settings}
        library = load_library(library_folder(str(settings["library_dir"]), context.artefact_root))
        extra = [entry for folder in settings["library_dirs"] for entry in load_library_dir(folder)]
        self.detector = XrayDetector(settings, [*library.entries, *extra], library.model)
        self.artefacts = (
            (library.info,)
            if self.detector.learned is None
            else (library.info, net_info(self.detector.learned))
        )
        self.warm_up_shape = _shape(settings["warm_up_shape"])
        self.warm_up_pixel_size_mm = float(settings["warm_up_pixel_size_mm"]) or None
        path = str(settings["calibrations_file"])
        self.scanners = load_scanners(path) if path else ()
        own = over_basis(settings["calibration"])
        self.calibrated = {  # each scanner's detector: the same library, read with its calibration
            scanner.name: self.detector.with_calibration(Calibration(**{**own, **scanner.calibration}))
            for scanner in self.scanners
        }

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self._assess(frame) for frame in frames]

    def _assess(self, frame: FrameView) -> Assessment:
        scanner = scanner_for(self.scanners, frame.source_id, frame.metadata)
        detector = self.detector if scanner is None else self.calibrated[scanner.name]
        try:
            assessment = detector.assess(
                frame.array(),
                pixel_size_mm=_pixel_size(frame),
                pixel_spacing_mm=pixel_spacing(frame.metadata.get("pixel_spacing_mm", "")),
            )
        except GainMapMismatch as error:  # this frame only: the scanner sent another size than calibrated
            why = f"scanner {scanner.name if scanner else 'of the calibration setting'}: {error}"
            return Assessment(Decision.MANUAL_INSPECTION, (Detection(MISMATCH, 1.0, explanation=why),))
        if scanner is None:
            return assessment
        calibrated = {"calibration": scanner.name}  # which scanner's calibration read it
        detections = tuple(
            replace(d, attributes={**d.attributes, **calibrated}) for d in assessment.detections
        )
        return replace(assessment, detections=detections)

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Compile the kernels and prepare the templates for frames of ``warm_up_shape``: assess a
        synthetic bag holding a library object and a block the beam hardly crosses."""
        for detector in (self.detector, *self.calibrated.values()):  # each scanner's templates too
            channels, rows, columns = self.warm_up_shape
            rows = len(detector.calibration.gain_high) or rows  # a gain map says its frames' height
            bag = synthetic_bag((channels, rows, columns), self._warm_up_entry())
            bag.flags.writeable = False  # as a frame's payload is: numba compiles read-only arrays apart
            detector.assess(bag, pixel_size_mm=detector.pixel_mm(rows, self.warm_up_pixel_size_mm))

    def _warm_up_entry(self) -> LibraryEntry | None:
        """A shape-class entry, so that the search peaks and verification runs too."""
        shapes = sorted(label for label in self.detector.library if label != self.detector.texture_label)
        return self.detector.library[shapes[0]][0] if shapes else None


def synthetic_bag(shape: tuple[int, int, int], entry: LibraryEntry | None = None) -> np.ndarray:
    """A uint16 ``shape`` image: the belt, a library entry's object in the middle (cropped to fit) and a
    dense block in the top left corner."""
    channels, height, width = shape
    line_integrals = np.full((channels, height, width), 0.08)  # the belt alone
    line_integrals[:, height // 8 : height // 4, width // 16 : width // 8] += 9.0  # opaque
    if entry is not None:
        object_lines = -np.log(np.maximum(entry.image.astype(np.float64), 0.5) / FULL_SCALE)
        rows, cols = min(height, object_lines.shape[1]), min(width, object_lines.shape[2])
        top, left = (height - rows) // 2, (width - cols) // 2
        line_integrals[:, top : top + rows, left : left + cols] += object_lines[:channels, :rows, :cols]
    image: np.ndarray = np.round(FULL_SCALE * np.exp(-line_integrals)).astype(np.uint16)
    return image


def net_info(learned: LearnedDetector) -> ArtefactInfo:
    """The network as reference data of the plugin's results."""
    source = f"network shipped in the package, trained by tools/train_net.py on {learned.card.trained_on}"
    return ArtefactInfo("xray-net", learned.card.version, learned.card.content_hash, source, NET_DIR)


def _shape(value: Any) -> tuple[int, int, int]:
    channels, height, width = (int(v) for v in value)
    if channels != 2 or height < 8 or width < 8:
        raise ValueError(f"xray_detector: warm_up_shape must be [2, H, W] with H, W >= 8, got {value}")
    return channels, height, width


def _pixel_size(frame: FrameView) -> float | None:
    try:
        return float(frame.metadata["pixel_size_mm"])
    except (KeyError, ValueError):
        return None
