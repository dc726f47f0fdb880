"""Labelled CT volumes from outside, for ``smartcustoms eval ct --data DIR``.

``DIR/annotations.json`` is COCO-style, as for X-ray (docs/formats.md, "Labelled CT volumes"): ``images``
(id, file_name, optional depth, height, width, and for ``.npy`` volumes voxel_size_mm, rescale_slope,
rescale_intercept), ``annotations`` (image_id, category_id, bbox3d ``[x, y, z, width, height, depth]`` in
voxels: x the column, y the row, z the slice, as DICOS ROIs are) and ``categories`` (id, name: the
detector's classes). A volume is a DICOS CT file (read with ``smartcustoms.hardware.dicos``, its geometry
and rescale from the file) or a ``.npy`` array [depth, height, width] as frames carry it (uint16 MHU, or
int16 HU with ``rescale_intercept`` 0). An image without annotations is a clean bag.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.evaluation import read_annotations
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.plugins.ct.settings import LABELS
from smartcustoms.v1 import frame_pb2

DICOS_SUFFIXES = (".dcs", ".dcm", ".dicos")
NPY_METADATA = ("voxel_size_mm", "rescale_slope", "rescale_intercept")


class DataError(ValueError):
    """A labelled directory that cannot be read: one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Truth:
    label: str
    box: tuple[float, float, float, float, float, float]  # x0, y0, z0, x1, y1, z1 in voxels


class LabelledVolumes:
    """The volumes of a directory and their 3D boxes, checked when opened, read one at a time."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        hint = "see docs/formats.md, labelled CT volumes"
        path, document = read_annotations(self.directory, hint, DataError)
        self.images, self.truths = _parse(document, path)

    def __len__(self) -> int:
        return len(self.images)

    def frames(self) -> Iterator[tuple[frame_pb2.Frame, list[Truth]]]:
        """Each volume as the detector's frame, with its true objects."""
        for sequence, image in enumerate(self.images):
            yield self._frame(image, sequence), self.truths.get(image["id"], [])

    def _frame(self, image: Mapping[str, Any], sequence: int) -> frame_pb2.Frame:
        path = self.directory / str(image["file_name"])
        if path.suffix.lower() in DICOS_SUFFIXES:
            from smartcustoms.hardware.dicos import DicosError, read_frames

            try:
                (frame,) = read_frames([path], source_id="ct-data", first_sequence=sequence)
            except (DicosError, ValueError) as error:  # a DX pair, several scans: not one CT volume
                raise DataError(f"image {image['id']}: {error}") from None
            if frame.modality != frame_pb2.MODALITY_CT:
                raise DataError(f"image {image['id']}: {path} is not a DICOS CT image")
        elif path.suffix.lower() == ".npy":
            try:
                volume = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as error:
                raise DataError(f"{path}: cannot read ({error})") from None
            if volume.ndim != 3 or volume.dtype not in (np.uint16, np.int16):
                got = f"{volume.dtype} {list(volume.shape)}"
                raise DataError(f"{path}: a CT volume is uint16 or int16 [depth, height, width]; got {got}")
            metadata = {key: str(image[key]) for key in NPY_METADATA if key in image}
            frame = array_frame(
                volume, modality=Modality.CT, source_id="ct-data", sequence=sequence, metadata=metadata
            )
        else:
            raise DataError(f"image {image['id']}: {path.name}: neither a .npy volume nor a DICOS CT file")
        expected = [
            int(image.get(k, n)) for k, n in zip(("depth", "height", "width"), frame.shape, strict=True)
        ]
        if list(frame.shape) != expected:
            raise DataError(f"image {image['id']}: {list(frame.shape)} voxels, annotations say {expected}")
        return frame


def _parse(document: Any, path: Path) -> tuple[list[dict[str, Any]], dict[Any, list[Truth]]]:
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(f"{path}: a COCO-style object with 'images', 'annotations' and 'categories'")
    try:
        names = {c["id"]: str(c["name"]) for c in document.get("categories", [])}
        unknown = sorted(set(names.values()) - set(LABELS))
        if unknown:
            raise DataError(
                f"{path}: categories {', '.join(unknown)}: the CT detector's are {', '.join(LABELS)}"
            )
        images = [dict(i) for i in document["images"]]
        ids = {i["id"] for i in images}
        for image in images:
            if not image.get("file_name"):
                raise DataError(f"{path}: image {image['id']} has no file_name")
        truths: dict[Any, list[Truth]] = {}
        for a in document.get("annotations", []):
            if a["image_id"] not in ids:
                raise DataError(f"{path}: annotation {a.get('id')} names image {a['image_id']}, not listed")
            if a["category_id"] not in names:
                raise DataError(f"{path}: annotation {a.get('id')} has unknown category {a['category_id']}")
            x, y, z, w, h, d = (float(v) for v in a["bbox3d"])
            if min(w, h, d) <= 0:
                raise DataError(f"{path}: annotation {a.get('id')}: a box of no size")
            truths.setdefault(a["image_id"], []).append(
                Truth(names[a["category_id"]], (x, y, z, x + w, y + h, z + d))
            )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: malformed COCO annotations ({type(error).__name__}: {error})") from None
    return images, truths
