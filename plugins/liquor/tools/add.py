"""``smartcustoms library add liquor``: a new product in the label database from a few photos and its facts.

No code changes and no rebuild from the simulator: the current artefact is read and verified, the photos
become reference views (``views.photo_views``: the label is what the photos have in common; its ABV and
volume boxes are found by OCR), and the artefact is written again, as a new version
(``<old version>+<catalogue id>`` unless one is given), with the product and its views added. A product of
a line already in the database (same brand and product name, another volume) joins that line. The
confidence model is kept as it was fitted. Running plugins load the new version when they restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.plugins.liquor.calibration import Calibration
from smartcustoms.plugins.liquor.features import Features
from smartcustoms.plugins.liquor.library import (
    ARTEFACT_NAME,
    LabelLibrary,
    LibraryError,
    Product,
    load_library,
    write_library,
)
from smartcustoms.plugins.liquor.tools.build import WrittenView, written
from smartcustoms.plugins.liquor.tools.views import TextFinder, photo_views


def read_photo(path: Path) -> np.ndarray:
    """An image file as RGB uint8; LibraryError naming it when it is not one."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise LibraryError(f"{path}: not an image file OpenCV can read")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def next_catalogue_id(library: LabelLibrary) -> str:
    """``LQ-<n>`` one above the highest such number in the database."""
    numbers = [int(p.catalogue_id[3:]) for p in library.products if p.catalogue_id[3:].isdigit()]
    return f"LQ-{max(numbers, default=0) + 1:04d}"


def label_names(product: Product) -> tuple[str, ...]:
    """The names a product's label prints: what tells its label from other print in its photos."""
    return tuple(name for name in (product.brand, product.product, product.name_zh) if name)


def existing_views(library: LabelLibrary) -> list[WrittenView]:
    """The library's views as written: each with its image and keypoints."""
    views: list[WrittenView] = []
    for number, view in enumerate(library.views):
        bgr = cv2.imread(str(library.info.path / view.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise LibraryError(f"{library.info.path / view.image}: missing view image")
        chosen = library.view_of == number
        features = Features(library.points[chosen], library.descriptors[chosen])
        views.append((view, np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), features))
    return views


@dataclass(frozen=True)
class Facts:
    """What the officer enters about the new product (``Product`` without its catalogue id)."""

    brand: str
    product: str
    category: str
    abv_percent: float
    volume_ml: int
    reference_price_hkd: float
    name_zh: str = ""

    def with_id(self, catalogue_id: str) -> Product:
        return Product(catalogue_id, **asdict(self))


def add(
    folder: str | Path,
    facts: Facts,
    photos: Sequence[np.ndarray],
    *,
    catalogue_id: str = "",
    names: Sequence[str] = (),
    version: str = "",
    finder: TextFinder | None = None,
) -> ArtefactInfo:
    """Add the product of ``facts`` seen in ``photos`` (RGB uint8) to the artefact in ``folder``, as
    ``catalogue_id`` (default the next free one). LibraryError for bad facts, a catalogue id already
    there or photos showing no label; ArtefactError when there is no artefact to extend."""
    library = load_library(folder)
    catalogue_id = catalogue_id.strip() or next_catalogue_id(library)
    if any(p.catalogue_id == catalogue_id for p in library.products):
        raise LibraryError(f"{catalogue_id} is already in the label database")
    product = facts.with_id(catalogue_id)
    if not photos:
        raise LibraryError("at least one photo of the product is needed")
    names = list(names) or [f"photo-{n + 1}" for n in range(len(photos))]
    try:
        made = photo_views(
            photos, finder if finder is not None else TextFinder(), names, label_names(product)
        )
    except ValueError as error:
        raise LibraryError(str(error)) from None
    views = existing_views(library)
    views += [written(view, product, len(views) + n) for n, view in enumerate(made)]
    products = (*library.products, product)
    info = library.info
    return artefacts.build(
        folder,
        name=ARTEFACT_NAME,
        version=version or f"{info.version}+{catalogue_id}",
        source=f"{info.source}; {catalogue_id} added from {len(photos)} photo(s)",
        write=lambda staging: write_library(staging, products, views, library.calibration),
    )


def photo_library(
    library: LabelLibrary,
    out: Path,
    photos: Mapping[str, Sequence[np.ndarray]],
    *,
    version: str,
    source: str,
    calibration: Calibration | None = None,
    finder: TextFinder | None = None,
) -> Path:
    """A copy of ``library`` in ``out`` whose views are made of ``photos`` only (RGB uint8, per catalogue
    id), through ``library add``'s path: the database a site has when it adds every product from photos.
    The facts are the library's, the confidence model too unless ``calibration`` is given. A product
    whose photos show no common label has no view; when none has one, the library's own views are kept
    (so that the failure shows in what is measured on it)."""
    finder = finder if finder is not None else TextFinder()
    views: list[WrittenView] = []
    for product in library.products:
        shots = photos.get(product.catalogue_id, [])
        if not shots:
            continue
        names = [f"{source} #{n}" for n in range(len(shots))]
        try:
            made = photo_views(shots, finder, names, label_names(product))
        except ValueError:
            continue
        views += [written(view, product, len(views) + n) for n, view in enumerate(made)]
    if not views:
        views = existing_views(library)
    model = calibration or library.calibration
    artefacts.build(
        out,
        name=ARTEFACT_NAME,
        version=version,
        source=f"{library.info.source}; views from photos: {source}",
        write=lambda staging: write_library(staging, library.products, views, model),
    )
    return out
