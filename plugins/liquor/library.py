"""The label database: the ``liquor-labels`` artefact (``smartcustoms.core.artefacts``).

Products are grouped in lines: the bottles of one brand and product name in several sizes (a 750 ml and
a 1.75 l vodka) print the same label but for the volume, so the image matcher recognises the line and the
printed volume read on the label picks the bottle. Each line has reference views: images of its label as
a camera sees it, each with its ORB keypoints and the boxes where its ABV and volume are printed::

    <artefact>/catalogue.json    {"products": [{"catalogue_id": "LQ-0001", "brand": "Glen Corrach",
                                  "product": "12 Year Single Malt Whisky", "category": "spirit",
                                  "abv_percent": 40, "volume_ml": 700, "reference_price_hkd": 480,
                                  "name_zh": "...", "line": "glen corrach|12 year single malt whisky"}]}
    <artefact>/views.json        [{"line": ..., "product": "LQ-0001", "source": "artwork, turned -35 deg",
                                  "image": "views/0000.png", "shape": [h, w],
                                  "text": [{"kind": "abv", "quad": [[x, y] x 4], "text": "ALC 40% VOL"}]}]
    <artefact>/features.npz      points float32 [n, 2], descriptors uint8 [n, 32], view int32 [n]
    <artefact>/calibration.json  the confidence model (``calibration``)
    <artefact>/views/NNNN.png    each view's image (what an officer is shown as the reference)

``smartcustoms library build liquor`` writes it (tools/build.py), ``smartcustoms library add liquor``
makes a new version with one more product from a few photos (tools/add.py). The plugin reads and verifies
it once at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.plugins.liquor.calibration import Calibration
from smartcustoms.plugins.liquor.features import Features
from smartcustoms.plugins.liquor.index import DescriptorIndex

ARTEFACT_NAME = "liquor-labels"
BUILD_COMMAND = "smartcustoms library build liquor"
CATEGORIES = ("spirit", "wine", "beer")
TEXT_KINDS = ("abv", "volume")


class LibraryError(ValueError):
    """A label database, or an entry for it, that cannot be used; the message says what, in one line."""


def line_key(brand: str, product: str) -> str:
    """The line a product belongs to: brand and product name, case and spacing folded."""
    return f"{' '.join(brand.lower().split())}|{' '.join(product.lower().split())}"


@dataclass(frozen=True)
class Product:
    """One bottle of the database: its facts."""

    catalogue_id: str
    brand: str
    product: str
    category: str
    abv_percent: float
    volume_ml: int
    reference_price_hkd: float
    name_zh: str = ""

    @property
    def line(self) -> str:
        return line_key(self.brand, self.product)

    def __post_init__(self) -> None:
        if not self.catalogue_id.strip() or not self.brand.strip() or not self.product.strip():
            raise LibraryError("a product needs a catalogue id, a brand and a product name")
        if self.category not in CATEGORIES:
            raise LibraryError(f"category must be one of {', '.join(CATEGORIES)}, got {self.category!r}")
        if not 0 <= self.abv_percent <= 100:
            raise LibraryError(f"ABV must be from 0 to 100 %, got {self.abv_percent}")
        if self.volume_ml <= 0:
            raise LibraryError(f"the volume must be more than 0 ml, got {self.volume_ml}")
        if self.reference_price_hkd < 0:
            raise LibraryError(f"the reference price must be zero or more, got {self.reference_price_hkd}")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Product:
        return cls(
            catalogue_id=str(entry["catalogue_id"]),
            brand=str(entry["brand"]),
            product=str(entry["product"]),
            category=str(entry["category"]),
            abv_percent=float(entry["abv_percent"]),
            volume_ml=int(entry["volume_ml"]),
            reference_price_hkd=float(entry["reference_price_hkd"]),
            name_zh=str(entry.get("name_zh", "")),
        )


@dataclass(frozen=True)
class TextBox:
    """Where a view prints its ABV or volume: a quadrilateral in the view's pixels, and what was read."""

    kind: str  # "abv" or "volume"
    quad: tuple[tuple[float, float], ...]  # four (x, y) corners, clockwise from the top left
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "quad": [list(p) for p in self.quad], "text": self.text}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> TextBox:
        quad = tuple((float(x), float(y)) for x, y in entry["quad"])
        if str(entry["kind"]) not in TEXT_KINDS or len(quad) != 4:
            raise LibraryError(f"a text box is an abv or volume quadrilateral, got {dict(entry)}")
        return cls(str(entry["kind"]), quad, str(entry.get("text", "")))


@dataclass(frozen=True)
class View:
    """One reference image of a line's label: its size, where it came from, its text boxes."""

    line: str
    product: str  # the catalogue id of the bottle it shows
    source: str  # "artwork, turned -35 deg", "photo IMG_0012.jpg"
    image: str  # path of its PNG inside the artefact
    shape: tuple[int, int]  # (height, width)
    text: tuple[TextBox, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "product": self.product,
            "source": self.source,
            "image": self.image,
            "shape": list(self.shape),
            "text": [box.to_json() for box in self.text],
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> View:
        height, width = entry["shape"]
        return cls(
            line=str(entry["line"]),
            product=str(entry["product"]),
            source=str(entry.get("source", "")),
            image=str(entry["image"]),
            shape=(int(height), int(width)),
            text=tuple(TextBox.from_json(box) for box in entry.get("text", ())),
        )


@dataclass(frozen=True, eq=False)
class LabelLibrary:
    """The loaded artefact: products, lines, views and their keypoints indexed for matching."""

    info: ArtefactInfo
    products: tuple[Product, ...]
    views: tuple[View, ...]
    points: np.ndarray  # float32 [n, 2], in the pixels of each keypoint's view
    descriptors: np.ndarray  # uint8 [n, 32]
    view_of: np.ndarray  # int32 [n]
    calibration: Calibration
    lines: tuple[str, ...] = field(init=False)
    index: DescriptorIndex = field(init=False)

    def __post_init__(self) -> None:
        lines = tuple(sorted({view.line for view in self.views}))
        object.__setattr__(self, "lines", lines)
        line_of_view = np.array([lines.index(view.line) for view in self.views], dtype=np.int32)
        object.__setattr__(self, "index", DescriptorIndex(self.descriptors, line_of_view[self.view_of]))

    def product(self, catalogue_id: str) -> Product:
        found = next((p for p in self.products if p.catalogue_id == catalogue_id), None)
        if found is None:
            raise KeyError(catalogue_id)
        return found

    def line_products(self, line: str) -> tuple[Product, ...]:
        """The bottles of a line, smallest first."""
        return tuple(sorted((p for p in self.products if p.line == line), key=lambda p: p.volume_ml))

    def view_line(self, view: int) -> int:
        return self.lines.index(self.views[view].line)


def library_folder(library_dir: str, artefact_root: str | Path) -> Path:
    """Where the artefact lives: ``library_dir`` if set, else ``<artefact root>/liquor-labels``."""
    return artefacts.locate(ARTEFACT_NAME, library_dir, artefact_root)


def load_library(folder: str | Path, *, verify: bool = True) -> LabelLibrary:
    """Read (and verify) the artefact in ``folder``: ArtefactError naming the build command when it is
    missing or altered, LibraryError when its content does not parse."""
    info = artefacts.read(folder, expected_name=ARTEFACT_NAME, build_hint=BUILD_COMMAND, verify=verify)
    path = info.path
    try:
        catalogue = json.loads((path / "catalogue.json").read_text())
        products = tuple(Product.from_json(entry) for entry in catalogue["products"])
        views = tuple(View.from_json(entry) for entry in json.loads((path / "views.json").read_text()))
        calibration = Calibration.from_json(json.loads((path / "calibration.json").read_text()))
        with np.load(path / "features.npz", allow_pickle=False) as arrays:
            points = np.asarray(arrays["points"], dtype=np.float32)
            descriptors = np.asarray(arrays["descriptors"], dtype=np.uint8)
            view_of = np.asarray(arrays["view"], dtype=np.int32)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LibraryError(
            f"{path}: not a label database ({error}); rebuild it with `{BUILD_COMMAND}`"
        ) from None
    if not views or not products or view_of.size == 0 or view_of.max() >= len(views):
        raise LibraryError(
            f"{path}: the label database holds no usable view; rebuild it with `{BUILD_COMMAND}`"
        )
    return LabelLibrary(info, products, views, points, descriptors, view_of, calibration)


def write_library(
    folder: Path,
    products: Sequence[Product],
    views: Sequence[tuple[View, np.ndarray, Features]],
    calibration: Calibration,
) -> None:
    """Write the artefact's files into ``folder`` (a staging folder of ``artefacts.build``): the
    products, each view's image (RGB uint8, written as ``view.image``) and keypoints, the calibration."""
    import cv2

    ids = [p.catalogue_id for p in products]
    if len(set(ids)) != len(ids):
        raise LibraryError("two products share a catalogue id")
    (folder / "views").mkdir(exist_ok=True)
    catalogue = {"products": [p.to_json() for p in products]}
    (folder / "catalogue.json").write_text(json.dumps(catalogue, indent=1, ensure_ascii=False) + "\n")
    (folder / "views.json").write_text(
        json.dumps([view.to_json() for view, _, _ in views], indent=1, ensure_ascii=False) + "\n"
    )
    for view, image, _ in views:
        cv2.imwrite(str(folder / view.image), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    points = np.concatenate([f.points for _, _, f in views]) if views else np.zeros((0, 2), np.float32)
    descriptors = (
        np.concatenate([f.descriptors for _, _, f in views]) if views else np.zeros((0, 32), np.uint8)
    )
    view_of = np.concatenate([np.full(len(f), number, np.int32) for number, (_, _, f) in enumerate(views)])
    np.savez_compressed(folder / "features.npz", points=points, descriptors=descriptors, view=view_of)
    (folder / "calibration.json").write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
