"""liquor_label: the hook class of liquor label recognition at the red channel.

It reads the ``liquor-labels`` artefact once per hosting process (setting ``library_dir``, else
``<artefact root>/liquor-labels``; built by ``smartcustoms library build liquor``) and recognises the
bottle in each camera frame whose ``camera_role`` metadata is one of ``camera_roles`` ("red_channel"):
the frame's label against the database, the printed ABV and volume as a cross-check (``recogniser``).

Each such frame gets one ``liquor_bottle`` detection: score the calibrated confidence of the best match,
box the label on the frame, attributes the bottle's entry (catalogue_id, brand, product, category,
abv_percent, volume_ml, reference_price_hkd), ``candidates`` (JSON, up to three {catalogue_id,
confidence}), ``ocr_abv_percent`` / ``ocr_volume_ml`` when read, ``identified_by`` ("keypoints",
"names" when the bottle was identified by the names read on its label, or "printed_facts" when its
first candidate is one the ABV and volume read fit, a shortlist; when they fit several products alike,
the detection names no entry, only the candidates), ``duty_hkd`` (one bottle at the
reference price, no allowance: ``smartcustoms.core.duty``), the frame's ``traveller_id``, and
``needs_officer`` "1" with ``needs_officer_reason`` and its kind ``needs_officer_referral`` (one of
``recogniser.REFERRALS``) when an officer must decide; then the decision is
MANUAL_INSPECTION, else CLEAR. A frame of another camera role (a vehicle lane) is CLEAR with nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core import duty
from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.lazy import lazy
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.plugins.liquor.library import (
    ARTEFACT_NAME,
    LabelLibrary,
    Product,
    library_folder,
    load_library,
)
from smartcustoms.plugins.liquor.reading import LabelReader
from smartcustoms.plugins.liquor.recogniser import LabelRecogniser, Recognition
from smartcustoms.plugins.liquor.settings import LiquorSettings

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

LABEL = "liquor_bottle"
CAMERA_ROLE_KEY = "camera_role"
TRAVELLER_KEY = "traveller_id"

SPEC = PluginSpec(
    name="liquor_label",
    version="1.0.0",
    consumes=frozenset({Modality.CAMERA}),
    description="liquor bottles at the red channel: the label matched against the label database, ABV "
    "and volume read as a cross-check, the duty of one bottle",
    default_settings={f.name: f.default for f in fields(LiquorSettings)},
    requires_metadata=frozenset({CAMERA_ROLE_KEY}),  # camera frames say what the camera watches
    artefacts=(ARTEFACT_NAME,),
)


class LiquorLabelPlugin(Plugin):
    """The hook class: one recogniser, with the library and the text recogniser loaded, per process."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.settings = LiquorSettings.from_mapping(settings)
        library = load_library(library_folder(self.settings.library_dir, context.artefact_root))
        reader = None if self.settings.read_labels == "never" else LabelReader(self.settings.ocr_threads)
        self.recogniser = LabelRecogniser(library, self.settings, reader)
        self.artefacts = (library.info,)

    @property
    def library(self) -> LabelLibrary:
        return self.recogniser.library

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Compile the matcher's kernels and load the recogniser: recognise a frame made of a view."""
        view = self.library.views[0]
        image = cv2.imread(str(self.library.info.path / view.image), cv2.IMREAD_COLOR)
        canvas = np.full((480, 640, 3), 128, np.uint8)
        if image is not None:
            small = image[:400, :560]
            canvas[40 : 40 + small.shape[0], 40 : 40 + small.shape[1]] = small[:, :, ::-1]
        self.recogniser.recognise(canvas)
        if self.recogniser.reader is not None:
            self.recogniser.reader.recognise([np.full((48, 160, 3), 255, np.uint8)])
            if self.settings.read_names:  # the text detector too, for the frames read whole
                self.recogniser.reader.read_frame(canvas)

    def assess(self, frame: FrameView) -> Assessment:
        """The assessment of one camera frame."""
        if frame.metadata.get(CAMERA_ROLE_KEY, "") not in self.settings.camera_roles:
            return Assessment.clear()
        recognition = self.recogniser.recognise(decoded(frame))
        detection = bottle_detection(recognition, frame.metadata.get(TRAVELLER_KEY, ""))
        decision = Decision.MANUAL_INSPECTION if recognition.needs_officer else Decision.CLEAR
        return Assessment(decision, (detection,), risk_score=1.0 - detection.score)


def decoded(frame: FrameView) -> np.ndarray:
    """The frame's image, RGB uint8 (H, W, 3): an encoded image (JPEG, PNG) or a raw uint8 array."""
    if frame.frame.dtype:
        image = np.asarray(frame.array())
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"liquor_label: frame {frame.frame_id} is not an RGB uint8 image")
        return image
    bgr = cv2.imdecode(np.frombuffer(frame.payload, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(
            f"liquor_label: frame {frame.frame_id} holds no decodable image ({frame.frame.encoding})"
        )
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def bottle_duty_hkd(product: Product) -> Decimal:
    """Duty on one bottle of ``product`` at its reference price, no allowance, to the cent."""
    item = duty.LiquorItem.of(
        product.abv_percent, product.volume_ml, product.reference_price_hkd, wine=product.category == "wine"
    )
    return duty.bottle_duty(item).duty_hkd


def shortlist_tied(recognition: Recognition) -> bool:
    """Whether the printed facts lead with several products alike (40% and 700 ml fit four): no one of
    them is the bottle recognised, so the detection names none, only the candidates."""
    first, *rest = recognition.candidates or (None,)
    return bool(recognition.by_facts and first and rest and rest[0].confidence == first.confidence)


def identified_by(recognition: Recognition) -> str:
    """What put the first candidate first: the label's keypoints, the names read on it, or the ABV and
    volume read on it (a shortlist, always for an officer)."""
    if recognition.by_facts:
        return "printed_facts"
    return "names" if recognition.by_names else "keypoints"


def bottle_detection(recognition: Recognition, traveller_id: str = "") -> Detection:
    """The ``liquor_bottle`` detection of a recognition (see the module docstring)."""
    attributes: dict[str, str] = {}
    if traveller_id:
        attributes[TRAVELLER_KEY] = traveller_id
    best = recognition.best
    if recognition.by_facts:
        attributes["identified_by"] = identified_by(recognition)
    if best is not None and not shortlist_tied(recognition):
        p = best.product
        attributes |= {
            "catalogue_id": p.catalogue_id,
            "brand": p.brand,
            "product": p.product,
            "category": p.category,
            "abv_percent": f"{p.abv_percent:g}",
            "volume_ml": str(p.volume_ml),
            "reference_price_hkd": f"{p.reference_price_hkd:g}",
            "duty_hkd": str(bottle_duty_hkd(p)),
            "inliers": str(best.inliers),
            "identified_by": identified_by(recognition),
        }
        if p.name_zh:
            attributes["name_zh"] = p.name_zh
    attributes["candidates"] = json.dumps(
        [{"catalogue_id": c.product.catalogue_id, "confidence": c.confidence} for c in recognition.candidates]
    )
    reading = recognition.reading
    if reading.abv_percent is not None:
        attributes["ocr_abv_percent"] = f"{reading.abv_percent:g}"
    if reading.volume_ml is not None:
        attributes["ocr_volume_ml"] = str(reading.volume_ml)
    if recognition.needs_officer:
        attributes["needs_officer"] = "1"
        attributes["needs_officer_reason"] = recognition.reason
        attributes["needs_officer_referral"] = recognition.referral
    box = None
    if recognition.outline is not None:
        x, y = recognition.outline[:, 0], recognition.outline[:, 1]
        box = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    explanation = recognition.reason or (f"{best.product.brand} {best.product.product}" if best else "")
    return Detection(
        LABEL, best.confidence if best else 0.0, box, explanation=explanation, attributes=attributes
    )
