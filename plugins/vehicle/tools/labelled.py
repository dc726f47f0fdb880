"""Labelled portal scans from outside, for ``smartcustoms eval vehicle --data DIR``, and a writer of such a
folder from the simulator.

``DIR/annotations.json`` is COCO-style:

* ``images``: ``id``; ``file_name`` (one file: DICOS DX, PNG or TIFF of 16 or 8 bits, JPEG, ``.npy``) or
  ``file_names`` (DICOS DX, one file per energy), relative to ``DIR``; ``width`` and ``height`` (checked
  against the file); what to compare against: ``container_type`` (``42G1``) or ``vehicle_model``; the
  declaration: ``declared_goods`` (default ``empty``) and ``declared_pallets``; optionally the pixel size:
  ``pixel_size_mm`` (square, or across when the next is given), ``pixel_size_along_mm`` and
  ``pixel_size_across_mm``, or ``pixel_spacing_mm`` ``[across, along]`` as DICOS gives it (else the
  file's own DICOS spacing, else none: the plugin's settings), and ``open_beam_level`` / ``dark_level``
  when the scanner states its levels (counts);
* ``annotations``: ``image_id``, ``category_id``, ``bbox`` ``[x, y, width, height]`` in the image's
  pixels; an image without any is a clean vehicle;
* ``categories``: ``id`` and ``name``, a name among the plugin's classes (``settings.LABELS``:
  hidden_compartment, undeclared_goods, extra_load).

``write_simulated`` writes such a folder from ``VehicleSimulator`` (the scans ``evaluate.evaluate`` scores
for the same seed, count, size and variations), as 16-bit PNG or TIFF, 8-bit JPEG or DICOS DX, with the
simulator's empty references in ``references/`` and ``references/references.json`` saying how to enrol
each (``smartcustoms library add vehicle``)::

    python -m smartcustoms.plugins.vehicle.tools.labelled --out DIR --seed 2000 --count 100 [--format png]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smartcustoms.core.evaluation import ANNOTATIONS_FILE, Labelled, read_annotations
from smartcustoms.plugins.vehicle.settings import LABELS
from smartcustoms.plugins.vehicle.tools.scan_files import PixelSpacing, ScanFileError, read_scan

REFERENCES_FILE = "references.json"
MODEL_KEYS = ("vehicle_model", "container_type")
STATED_KEYS = ("declared_goods", "declared_pallets", "open_beam_level", "dark_level")
FORMATS = ("png", "tiff", "jpeg", "dicos")
JPEG_QUALITY = 95


class LabelsError(ValueError):
    """An annotations file that is missing, not JSON, or not the COCO-style format above."""


@dataclass(frozen=True)
class LabelledScan:
    """One labelled scan: uint16 [channels, H, W], the frame metadata the plugin reads, its truths."""

    name: str
    array: np.ndarray
    metadata: dict[str, str]
    truths: tuple[Labelled, ...]
    locations: tuple[str, ...] = ()  # each truth's annotated ``location`` ("" when none is given)


class LabelledScans:
    """The scans of a directory and their boxes: the annotations checked when opened, each scan read when
    its turn comes."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        hint = f"COCO-style labels of the scans in {directory}"
        path, document = read_annotations(self.directory, hint, LabelsError)
        self.images, self.truths, self.locations = _parse(document, path)

    def __len__(self) -> int:
        return len(self.images)

    def models(self) -> set[str]:
        """Every container type or vehicle model the scans are compared against."""
        return {_model(image)[1] for image in self.images}

    def scans(self) -> Iterator[LabelledScan]:
        for image in self.images:
            names = image.get("file_names") or [image["file_name"]]
            scan = read_scan([self.directory / str(name) for name in names])
            expected = (int(image["height"]), int(image["width"]))
            if scan.shape != expected:
                raise LabelsError(
                    f"image {image['id']} ({names[0]}): {scan.shape[0]} x {scan.shape[1]} pixels, the "
                    f"annotations say {expected[0]} x {expected[1]}"
                )
            metadata = frame_metadata(image, scan.pixel)
            truths, locations = self.truths.get(image["id"], ()), self.locations.get(image["id"], ())
            yield LabelledScan(str(names[0]), scan.array, metadata, tuple(truths), tuple(locations))


def frame_metadata(image: Mapping[str, Any], file_pixel: PixelSpacing | None) -> dict[str, str]:
    """The metadata a portal would send with this image: model or type, declaration, pixel size (the
    annotations', else the file's), stated levels."""
    key, model = _model(image)
    metadata = {key: model, "declared_goods": "empty"}
    metadata.update({k: str(image[k]) for k in STATED_KEYS if image.get(k) not in (None, "")})
    pixel = _stated_pixel(image) or file_pixel
    if pixel is not None:
        metadata.update(pixel.metadata())
    return metadata


def _model(image: Mapping[str, Any]) -> tuple[str, str]:
    for key in MODEL_KEYS:
        if str(image.get(key) or "").strip():
            return key, str(image[key]).strip()
    raise LabelsError(f"image {image.get('id')}: no container_type or vehicle_model to compare against")


def _stated_pixel(image: Mapping[str, Any]) -> PixelSpacing | None:
    what = f"image {image.get('id')}"
    spacing = image.get("pixel_spacing_mm")
    if spacing is not None:
        values = spacing if isinstance(spacing, list) else [spacing]
        across_along = PixelSpacing.parse(values, f"{what} pixel_spacing_mm")
        return PixelSpacing(across_along.across_mm, across_along.along_mm)  # [across, along]: swapped
    given = {k: image.get(k) for k in ("pixel_size_mm", "pixel_size_along_mm", "pixel_size_across_mm")}
    if all(v is None for v in given.values()):
        return None
    square = given["pixel_size_mm"]
    along = given["pixel_size_along_mm"] if given["pixel_size_along_mm"] is not None else square
    across = given["pixel_size_across_mm"] if given["pixel_size_across_mm"] is not None else square
    if along is None or across is None:
        raise LabelsError(f"{what}: pixel_size_along_mm needs pixel_size_across_mm (or pixel_size_mm)")
    try:
        return PixelSpacing.parse([along, across], what)
    except (TypeError, ValueError) as error:
        raise LabelsError(str(error)) from None


def _parse(
    document: Any, path: Path
) -> tuple[list[dict[str, Any]], dict[Any, list[Labelled]], dict[Any, list[str]]]:
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise LabelsError(f"{path}: a COCO-style object with 'images', 'annotations' and 'categories'")
    try:
        names = {c["id"]: str(c["name"]) for c in document.get("categories", [])}
        unknown = sorted(set(names.values()) - set(LABELS))
        if unknown:
            raise LabelsError(f"{path}: unknown categories {unknown}: the classes are {', '.join(LABELS)}")
        images = [dict(i) for i in document["images"]]
        if not images:
            raise LabelsError(f"{path}: no images")
        for image in images:
            if not image.get("file_name") and not image.get("file_names"):
                raise LabelsError(f"{path}: image {image['id']} has no file_name")
            if int(image["width"]) < 1 or int(image["height"]) < 1:
                raise LabelsError(f"{path}: image {image['id']} has no size")
            for name in image.get("file_names") or [image["file_name"]]:
                if not (path.parent / str(name)).is_file():
                    raise LabelsError(f"{path}: image {image['id']}: {path.parent / str(name)}: no such file")
            _model(image)
            _stated_pixel(image)
        ids = {i["id"] for i in images}
        truths: dict[Any, list[Labelled]] = {}
        locations: dict[Any, list[str]] = {}
        for a in document.get("annotations", []):
            if a["image_id"] not in ids:
                raise LabelsError(f"{path}: annotation {a.get('id')} names image {a['image_id']}, not listed")
            if a["category_id"] not in names:
                raise LabelsError(f"{path}: annotation {a.get('id')} has unknown category {a['category_id']}")
            x, y, w, h = (float(v) for v in a["bbox"])
            if w <= 0 or h <= 0:
                raise LabelsError(f"{path}: annotation {a.get('id')} has an empty bbox")
            truths.setdefault(a["image_id"], []).append(
                Labelled(names[a["category_id"]], (x, y, x + w, y + h))
            )
            locations.setdefault(a["image_id"], []).append(str(a.get("location") or ""))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, LabelsError | ScanFileError):
            raise
        raise LabelsError(f"{path}: malformed COCO annotations ({type(error).__name__}: {error})") from None
    return images, truths, locations


# ------------------------------------------------------------------ a labelled folder from the simulator


def enrol_references(directory: str | Path, library: str | Path) -> list[str]:
    """Every reference ``directory/references/references.json`` lists, enrolled into the artefact folder
    ``library`` as ``smartcustoms library add vehicle`` would (its model, kind, pixel size and cargo box);
    the file names given. LabelsError for a list that is missing or not as ``write_simulated`` writes it."""
    from smartcustoms.plugins.vehicle.tools import add  # add imports the artefact code this module need not

    directory = Path(directory)
    path = directory / "references" / REFERENCES_FILE
    enrolments = []
    try:
        for entry in json.loads(path.read_text()):
            box = entry.get("cargo_box_px")
            enrolment = add.Enrolment(
                add.check_model(str(entry["model"])),
                str(entry["kind"]),
                PixelSpacing.parse(entry["pixel_size_mm"], f"{path} {entry['model']}"),
                (int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None,
                str(entry.get("description") or ""),
            )
            enrolments.append(([directory / str(name) for name in entry["files"]], enrolment))
    except FileNotFoundError:
        raise LabelsError(f"{path}: no such file (the references of the scans in {directory})") from None
    except (OSError, ValueError, TypeError, KeyError, IndexError) as error:
        raise LabelsError(f"{path}: not a list of references as documented ({error})") from None
    return [add.add(library, read_scan(files), enrolment)[1] for files, enrolment in enrolments]


def write_simulated(
    out: str | Path,
    count: int,
    seed: int,
    *,
    height: int = 1024,
    width: int = 3072,
    variations: Sequence[str] = (),
    image_format: str = "png",
) -> Path:
    """``count`` scans of ``seed`` as ``evaluate.evaluate`` draws them, written as a labelled folder in
    ``image_format`` (``FORMATS``), with the simulator's references; returns the annotations' path."""
    from smartcustoms.hardware.sim import vehicle
    from smartcustoms.plugins.vehicle.tools import build, evaluate

    if image_format not in FORMATS:
        raise ValueError(f"format {image_format!r}: one of {', '.join(FORMATS)}")
    evaluate.check_seed(seed, count)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "references").mkdir(exist_ok=True)
    realism = vehicle.Realism.portal(tuple(variations)) if variations else None
    simulator = vehicle.VehicleSimulator(
        seed, height, width, concealment_rate=evaluate.CONCEALMENT_RATE, realism=realism
    )
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(count):
        scan = simulator.generate(index)
        metadata = vehicle.to_frame(scan, source_id="portal-labelled", sequence=index).metadata
        pixel = PixelSpacing(float(scan.pixel_size_along_mm or scan.pixel_size_mm), float(scan.pixel_size_mm))
        files = _write_scan(out / "images" / f"{index:06d}", scan.image, pixel, image_format, f"scan-{index}")
        entry: dict[str, Any] = {
            "id": index + 1,
            "file_name" if len(files) == 1 else "file_names": files[0] if len(files) == 1 else files,
            "height": int(scan.image.shape[1]),
            "width": int(scan.image.shape[2]),
            "vehicle_model": scan.model,
            **{k: metadata[k] for k in STATED_KEYS if k in metadata},
        }
        if image_format != "dicos":  # DICOS states its spacing itself
            entry.update({k: float(v) for k, v in pixel.metadata().items()})
        images.append(entry)
        for concealment in scan.concealments:
            x0, y0, x1, y1 = concealment.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": LABELS.index(concealment.kind) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "location": concealment.location,
                }
            )
    references = []
    for spec in vehicle.MODELS:
        square = PixelSpacing(simulator.pixel_size_mm, simulator.pixel_size_mm)
        reference = simulator.reference(spec.name).image
        files = _write_scan(out / "references" / spec.name, reference, square, image_format, spec.name)
        box = build.cargo_box(spec, simulator)
        references.append(
            {
                "files": [f"references/{Path(f).name}" for f in files],
                "model": spec.name,
                "kind": spec.kind,
                "pixel_size_mm": [square.along_mm, square.across_mm],
                "cargo_box_px": list(box) if box else None,
                "description": spec.description,
            }
        )
    (out / "references" / REFERENCES_FILE).write_text(json.dumps(references, indent=1) + "\n")
    categories = [{"id": n + 1, "name": label} for n, label in enumerate(LABELS)]
    document = {"images": images, "annotations": annotations, "categories": categories}
    path = out / ANNOTATIONS_FILE
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def _write_scan(
    stem: Path, image: np.ndarray, pixel: PixelSpacing, image_format: str, scan_id: str
) -> list[str]:
    """One scan (uint16 [2, H, W]) as files named from ``stem``: its high energy as an image, or both
    energies as DICOS DX; their names relative to the folder above ``stem``'s."""
    relative = f"{stem.parent.name}/{stem.name}"
    if image_format == "dicos":
        return _write_dicos(stem, image, pixel, scan_id, relative)
    high = np.ascontiguousarray(image[0])
    suffix = {"png": ".png", "tiff": ".tiff", "jpeg": ".jpg"}[image_format]
    if image_format == "jpeg":
        eight_bit = np.round(high / 257.0).astype(np.uint8)
        ok = cv2.imwrite(str(stem) + suffix, eight_bit, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    else:
        ok = cv2.imwrite(str(stem) + suffix, high)
    if not ok:
        raise ScanFileError(f"{stem}{suffix}: OpenCV could not write it")
    return [relative + suffix]


def _write_dicos(
    stem: Path, image: np.ndarray, pixel: PixelSpacing, scan_id: str, relative: str
) -> list[str]:
    from pydicom.uid import generate_uid

    from smartcustoms.hardware.dicos import Geometry, Identity, write_dx
    from smartcustoms.hardware.sim.vehicle import ENERGY_HIGH_MV, ENERGY_LOW_MV

    identity = Identity(ooi_id=scan_id, ooi_type="VEHICLE", study_instance_uid=generate_uid())
    geometry = Geometry(pixel_spacing_mm=(pixel.across_mm, pixel.along_mm))  # rows, columns
    names = []
    for channel, (energy, mv) in enumerate((("high", ENERGY_HIGH_MV), ("low", ENERGY_LOW_MV))):
        write_dx(f"{stem}-{energy}.dcs", image[channel], geometry=geometry, identity=identity, kvp=mv * 1000)
        names.append(f"{relative}-{energy}.dcs")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smartcustoms.plugins.vehicle.tools.labelled --out DIR ...``: exit 2 on bad input."""
    from smartcustoms.plugins.vehicle.tools import EVALUATION_COUNT, EVALUATION_SEED
    from smartcustoms.plugins.vehicle.tools.cli import VARIATIONS

    parser = argparse.ArgumentParser(
        prog="python -m smartcustoms.plugins.vehicle.tools.labelled",
        description="Write simulated portal scans as a labelled folder (COCO-style annotations.json) for "
        "`smartcustoms eval vehicle --data DIR`, with the simulator's empty references to enrol.",
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=EVALUATION_SEED)
    parser.add_argument("--count", type=int, default=EVALUATION_COUNT)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=3072)
    parser.add_argument("--format", choices=FORMATS, default="png")
    parser.add_argument("--variations", nargs="*", choices=VARIATIONS, default=(), metavar="KIND")
    args = parser.parse_args(argv)
    try:
        path = write_simulated(
            args.out, args.count, args.seed, height=args.height, width=args.width,
            variations=args.variations, image_format=args.format,
        )  # fmt: skip
    except (ValueError, OSError) as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.count} labelled scans: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
