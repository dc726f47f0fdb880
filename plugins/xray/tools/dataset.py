"""Labelled dual-energy images from outside, for ``smartcustoms eval xray --data DIR``.

``DIR/annotations.json`` is COCO-style (docs/formats.md, "Labelled X-ray images"): ``images`` (id,
file_name or file_names, height, width, optional pixel_size_mm and pixel_spacing_mm), ``annotations``
(image_id, category_id, bbox [x, y, width, height] in pixels, optional rotation_deg and design) and
``categories`` (id, name: the detector's class names). An image is a ``.npy`` uint16 array [2, H, W],
channel 0 high energy, 65535 = no attenuation, or DICOS DX files, one per energy (``file_names``) or
one file holding both (``file_name``), read with ``smartcustoms.hardware.dicos``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.evaluation import read_annotations
from smartcustoms.plugins.xray.materials import pixel_spacing
from smartcustoms.plugins.xray.tools.crosscheck import Bag, CrossCheckError, Truth

DICOS_SUFFIXES = (".dcs", ".dcm", ".dicos")


class LabelledImages:
    """The images of a directory and their boxes, checked when opened, read one at a time."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        hint = "see docs/formats.md, labelled X-ray images"
        path, document = read_annotations(self.directory, hint, CrossCheckError)
        self.images, self.truths = _parse(document, path)

    def __len__(self) -> int:
        return len(self.images)

    def categories(self) -> set[str]:
        return {t.label for truths in self.truths.values() for t in truths}

    def bags(self) -> Iterator[Bag]:
        for image in self.images:
            array, pixel_mm, spacing = self._read(image)
            given = image.get("pixel_size_mm")
            spacing = _given_spacing(image) or spacing
            yield Bag(
                array,
                float(given) if given else pixel_mm,
                tuple(self.truths.get(image["id"], ())),
                str(image.get("file_name") or image.get("file_names")),
                spacing,
            )

    def _read(self, image: Mapping[str, Any]) -> tuple[np.ndarray, float | None, tuple[float, float] | None]:
        names = image.get("file_names") or [image["file_name"]]
        paths = [self.directory / str(name) for name in names]
        if all(p.suffix.lower() in DICOS_SUFFIXES for p in paths):
            array, pixel_mm, spacing = _read_dicos(paths)
        elif len(paths) == 1 and paths[0].suffix.lower() == ".npy":
            array, pixel_mm, spacing = _read_npy(paths[0]), None, None
        else:
            raise CrossCheckError(f"image {image['id']}: {names}: neither one .npy file nor DICOS DX files")
        expected = (int(image.get("height", array.shape[-2])), int(image.get("width", array.shape[-1])))
        if array.shape[-2:] != expected:
            raise CrossCheckError(
                f"image {image['id']}: {array.shape[-2:]} pixels, annotations say {expected}"
            )
        return array, pixel_mm, spacing


def _parse(document: Any, path: Path) -> tuple[list[dict[str, Any]], dict[Any, list[Truth]]]:
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise CrossCheckError(f"{path}: a COCO-style object with 'images', 'annotations' and 'categories'")
    try:
        names = {c["id"]: str(c["name"]) for c in document.get("categories", [])}
        images = [dict(i) for i in document["images"]]
        ids = {i["id"] for i in images}
        for image in images:
            if not image.get("file_name") and not image.get("file_names"):
                raise CrossCheckError(f"{path}: image {image['id']} has no file_name")
            _given_spacing(image, path)
        truths: dict[Any, list[Truth]] = {}
        for a in document.get("annotations", []):
            if a["image_id"] not in ids:
                raise CrossCheckError(
                    f"{path}: annotation {a.get('id')} names image {a['image_id']}, not listed"
                )
            if a["category_id"] not in names:
                raise CrossCheckError(
                    f"{path}: annotation {a.get('id')} has unknown category {a['category_id']}"
                )
            x, y, w, h = (float(v) for v in a["bbox"])
            rotation = a.get("rotation_deg")
            truths.setdefault(a["image_id"], []).append(
                Truth(
                    names[a["category_id"]],
                    (x, y, x + w, y + h),
                    float(rotation) if rotation is not None else None,
                    str(a.get("design", "")),
                )
            )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CrossCheckError):
            raise
        raise CrossCheckError(
            f"{path}: malformed COCO annotations ({type(error).__name__}: {error})"
        ) from None
    return images, truths


def _given_spacing(image: Mapping[str, Any], path: Path | None = None) -> tuple[float, float] | None:
    """An image's ``pixel_spacing_mm`` [between rows, between columns], if given."""
    given = image.get("pixel_spacing_mm")
    if given is None:
        return None
    spacing = pixel_spacing(",".join(str(v) for v in given)) if isinstance(given, list) else None
    if spacing is None or len(given) != 2:
        raise CrossCheckError(
            f"{path}: image {image['id']}: pixel_spacing_mm must be [between rows, between columns] "
            f"in mm, got {given!r}"
        )
    return spacing


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CrossCheckError(f"{path}: cannot read ({error})") from None
    if array.dtype != np.uint16 or array.ndim != 3 or array.shape[0] != 2:
        raise CrossCheckError(
            f"{path}: a dual-energy image is uint16 [2, H, W]; got {array.dtype} {array.shape}"
        )
    return np.ascontiguousarray(array)


def _read_dicos(paths: list[Path]) -> tuple[np.ndarray, float | None, tuple[float, float] | None]:
    from smartcustoms.hardware.dicos import DicosError, read_scan

    try:
        scan = read_scan(paths)
    except (DicosError, OSError) as error:
        raise CrossCheckError(str(error)) from None
    array = scan.array
    if array.shape[0] != 2:
        raise CrossCheckError(f"{[str(p) for p in paths]}: {array.shape[0]} energies, the detector needs 2")
    if array.dtype != np.uint16:
        if array.min() < 0 or array.max() > 65535:
            raise CrossCheckError(f"{paths[0]}: pixel values outside 0..65535")
        array = array.astype(np.uint16)
    pixel = scan.metadata.get("pixel_size_mm")
    spacing = pixel_spacing(scan.metadata.get("pixel_spacing_mm", ""))
    return np.ascontiguousarray(array), float(pixel) if pixel else None, spacing
