"""plate_reader: the hook class that reads licence plates in vehicle lane camera frames.

Routing: camera frames carrying ``camera_role`` metadata reach the plugin (``requires_metadata``);
those whose role is not in the ``camera_roles`` setting (a red-channel counter's camera) are returned
CLEAR without a detection, left to the plugin that reads them.

Each plate read is a detection ``licence_plate`` scored by its confidence, with attributes ``plate``
(normalised: upper case, no spaces, "AB1234" or "粤ZAB12港", as on the crossing record), ``plate_region``
("HK" or "GD"), ``raw_text`` (what the recogniser read), ``box`` ("x_min,y_min,x_max,y_max"),
``conveyance_id`` (the frame's, when it names one, so a verdict's reader can join plate and crossing)
and ``ocr_engine``. The decision is CLEAR when every plate read is at least ``min_confidence`` sure;
a doubtful read (``needs_officer`` "1" with a ``reason``) or no plate at all (a detection
``licence_plate_unread``) asks for an officer (MANUAL_INSPECTION) unless ``officer_when_unread`` is false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.lazy import lazy
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.plugins.plate.ocr import engine_version
from smartcustoms.plugins.plate.reader import PlateRead, PlateReader
from smartcustoms.plugins.plate.settings import PlateSettings

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

LABEL = "licence_plate"
UNREAD_LABEL = "licence_plate_unread"
ROLE_KEY = "camera_role"
CONVEYANCE_KEY = "conveyance_id"

SPEC = PluginSpec(
    name="plate_reader",
    version="1.0.0",
    consumes=frozenset({Modality.CAMERA}),
    description="licence plates (Hong Kong, Guangdong cross-boundary) read in vehicle lane camera frames",
    default_settings={
        f.name: list(f.default) if isinstance(f.default, tuple) else f.default for f in fields(PlateSettings)
    },
    requires_metadata=frozenset({ROLE_KEY}),  # lane and counter cameras say what they look at
)


class PlateReaderPlugin(Plugin):
    """The hook class: one reader (line finder, recogniser, decoder) per hosting process."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = PlateSettings.from_mapping(settings)
        self.reader = PlateReader(self.settings)
        self.engine = engine_version()

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Load the model's kernels: read a drawn plate."""
        self.reader.read(warm_up_image())

    def assess(self, frame: FrameView) -> Assessment:
        """The assessment of one camera frame."""
        if frame.metadata.get(ROLE_KEY, "") not in self.settings.camera_roles:
            return Assessment.clear()
        reads = self.reader.read(decode(frame))
        conveyance_id = frame.frame.conveyance_id or frame.metadata.get(CONVEYANCE_KEY, "")
        detections = tuple(self._detection(read, conveyance_id) for read in reads)
        doubtful = not reads or any(r.confidence < self.settings.min_confidence for r in reads)
        if not reads:
            detections = (
                Detection(
                    UNREAD_LABEL,
                    0.0,
                    explanation="no licence plate read",
                    attributes={
                        "needs_officer": "1",
                        "reason": "no plate found",
                        CONVEYANCE_KEY: conveyance_id,
                    },
                ),
            )
        if doubtful and self.settings.officer_when_unread:
            return Assessment(Decision.MANUAL_INSPECTION, detections)
        return Assessment(Decision.CLEAR, detections)

    def _detection(self, read: PlateRead, conveyance_id: str) -> Detection:
        attributes = {
            "plate": read.plate,
            "plate_region": read.region,
            "raw_text": read.raw_text,
            "box": ",".join(f"{v:.0f}" for v in read.box),
            "ocr_engine": self.engine,
        }
        if conveyance_id:
            attributes[CONVEYANCE_KEY] = conveyance_id
        if read.confidence < self.settings.min_confidence:
            attributes["needs_officer"] = "1"
            attributes["reason"] = (
                f"confidence {read.confidence:.2f} below {self.settings.min_confidence:.2f}"
            )
        region = "Hong Kong" if read.region == "HK" else "Guangdong"
        return Detection(
            LABEL,
            read.confidence,
            box=read.box,
            explanation=f"{region} plate {read.plate} read with confidence {read.confidence:.2f}",
            attributes=attributes,
        )


def decode(frame: FrameView) -> np.ndarray:
    """The frame's image, BGR uint8: an encoded payload (JPEG, PNG), or a raw uint8 [H, W, 3] array."""
    if frame.frame.dtype:
        array = frame.array()
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"plate_reader: frame {frame.frame_id} is not an RGB uint8 image")
        return np.ascontiguousarray(array[..., ::-1])
    image = cv2.imdecode(np.frombuffer(frame.payload, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(
            f"plate_reader: frame {frame.frame_id} from {frame.source_id} has no decodable image "
            f"(encoding {frame.frame.encoding!r})"
        )
    return np.asarray(image)


def warm_up_image() -> np.ndarray:
    """A white plate with black characters on a grey ground: the shape of a first frame."""
    image = np.full((240, 320, 3), 96, dtype=np.uint8)
    cv2.rectangle(image, (60, 100), (260, 142), (235, 235, 235), -1)
    cv2.putText(image, "AB 1234", (74, 134), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 3, cv2.LINE_AA)
    return image
