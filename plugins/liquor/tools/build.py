"""Build the ``liquor-labels`` artefact: ``smartcustoms library build liquor --source sim``.

From the simulator's catalogue (``hardware.sim.liquor``): every product's facts, and for every line
(brand and product name) the label artwork of its first bottle, made into reference views
(``views.artwork_views``: wrapped on a bottle at three turns, ABV and volume boxes found by OCR). Then the
confidence model is fitted (``calibration.fit``) on frames of the calibration seeds, recognised by the
library just written with the label always read, and the artefact is written again with it, with the
count of identifications by the names read (``names``) that were right on the photo-view frames, and of
frames whose ABV and volume read fit one product that was the bottle (``with_facts``).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.hardware.sim import liquor as liquor_sim
from smartcustoms.plugins.liquor.calibration import Calibration, Evidence, fit
from smartcustoms.plugins.liquor.features import Features
from smartcustoms.plugins.liquor.library import (
    ARTEFACT_NAME,
    LabelLibrary,
    LibraryError,
    Product,
    View,
    load_library,
    write_library,
)
from smartcustoms.plugins.liquor.reading import LabelReader
from smartcustoms.plugins.liquor.recogniser import LabelRecogniser
from smartcustoms.plugins.liquor.settings import LiquorSettings
from smartcustoms.plugins.liquor.tools import (
    CALIBRATION_FRAMES_PER_SEED,
    CALIBRATION_SEEDS,
    FRAME_SHAPE,
    PHOTO_CALIBRATION_SEEDS,
    PHOTO_DESIGNS,
    PHOTO_REFERENCE_SEEDS,
    PHOTOS_PER_PRODUCT,
)
from smartcustoms.plugins.liquor.tools.views import TextFinder, ViewImage, artwork_views

SIM_SOURCE = "sim"
SIM_VERSION = "sim-v1"
NAMES_COUNTED_FROM = 1e-9  # the calibration counts identifications by names whatever their confidence
WrittenView = tuple[View, np.ndarray, Features]


def product_of(item: liquor_sim.LiquorProduct) -> Product:
    return Product(
        item.catalogue_id,
        item.brand,
        item.product,
        item.category,
        float(item.abv_percent),
        int(item.volume_ml),
        float(item.reference_price_hkd),
        item.name_zh,
    )


def build(
    out: str | Path,
    source: str = SIM_SOURCE,
    *,
    version: str = "",
    catalogue_ids: Sequence[str] = (),
    calibration_seeds: Sequence[int] = CALIBRATION_SEEDS,
    frames_per_seed: int = CALIBRATION_FRAMES_PER_SEED,
    progress: Callable[[str], None] | None = None,
) -> ArtefactInfo:
    """Build the artefact into ``out`` from the simulator (the only source for now), for every product
    or those of ``catalogue_ids``; no calibration seeds keeps the prior confidence model."""
    if source != SIM_SOURCE:
        raise LibraryError(
            f"--source must be {SIM_SOURCE!r}; site products come in with `library add liquor`"
        )
    items = [p for p in liquor_sim.CATALOGUE if not catalogue_ids or p.catalogue_id in catalogue_ids]
    if not items:
        raise LibraryError(f"no product of the simulator's catalogue among {', '.join(catalogue_ids)}")
    products = [product_of(item) for item in items]
    say = progress or (lambda _: None)
    say(f"views of {len({p.line for p in products})} lines (OCR of each artwork)")
    views = simulator_views(items, TextFinder())
    description = f"hardware.sim.liquor: {len(products)} products, label artwork of each line"
    info = _write(out, version or SIM_VERSION, description, products, views, Calibration.default())
    if not calibration_seeds or frames_per_seed < 1:
        return info
    say(f"calibration on seeds {calibration_seeds[0]}-{calibration_seeds[-1]}")
    calibration = calibrate(info.path, calibration_seeds, frames_per_seed, [p.catalogue_id for p in products])
    return _write(out, version or SIM_VERSION, description, products, views, calibration)


def _write(
    out: str | Path,
    version: str,
    source: str,
    products: Sequence[Product],
    views: Sequence[WrittenView],
    calibration: Calibration,
) -> ArtefactInfo:
    return artefacts.build(
        out,
        name=ARTEFACT_NAME,
        version=version,
        source=source,
        write=lambda staging: write_library(staging, products, views, calibration),
    )


def simulator_views(
    items: Sequence[liquor_sim.LiquorProduct], finder: TextFinder | None
) -> list[WrittenView]:
    """The views of every line: its first bottle's artwork (the others print the same but the volume)."""
    views: list[WrittenView] = []
    seen: set[str] = set()
    for item in items:
        product = product_of(item)
        if product.line in seen:
            continue
        seen.add(product.line)
        for made in artwork_views(liquor_sim.label_image(item), finder, f"artwork of {item.catalogue_id}"):
            views.append(written(made, product, len(views)))
    return views


def written(made: ViewImage, product: Product, number: int) -> WrittenView:
    """A view as the library holds it: numbered image path, shape, boxes."""
    height, width = made.image.shape[:2]
    view = View(
        product.line, product.catalogue_id, made.source, f"views/{number:04d}.png", (height, width), made.text
    )
    return view, made.image, made.features


def calibrate(
    folder: Path,
    seeds: Sequence[int],
    frames_per_seed: int,
    catalogue_ids: Sequence[str],
    *,
    photo_designs: Sequence[int] = PHOTO_DESIGNS,
) -> Calibration:
    """Fit the confidence model on simulator frames (JPEG at each frame's quality, as the camera sends
    them) recognised with the label always read: frames of ``seeds`` (the odd ones ``varied``) against
    the library in ``folder``, and for each of ``photo_designs`` varied frames of labels drawn that way
    against a copy of the library whose views are made from photos of them (``photo_library``)."""
    from smartcustoms.plugins.liquor.tools.add import photo_library  # add imports this module

    library = load_library(folder)
    evidence: list[Evidence] = []
    correct: list[bool] = []
    names: list[bool] = []  # identifications by the names read that would stand, and whether right
    facts: list[bool] = []  # frames whose ABV and volume read fit one product, and whether it was right
    ids = tuple(catalogue_ids)
    for seed in seeds:
        simulator = liquor_sim.LiquorSimulator(seed, *FRAME_SHAPE, catalogue_ids=ids, varied=seed % 2 == 1)
        _recognised(library, simulator, frames_per_seed, evidence, correct)
    described = (
        f"hardware.sim.liquor seeds {seeds[0]}-{seeds[-1]} (odd ones varied), {frames_per_seed} frames each"
    )
    finder = TextFinder() if photo_designs else None
    for number, design in enumerate(photo_designs):
        reference = PHOTO_REFERENCE_SEEDS[number % len(PHOTO_REFERENCE_SEEDS)]
        frame_seeds = list(PHOTO_CALIBRATION_SEEDS)[number :: len(photo_designs)]
        photos = design_photos(reference, design, ids)
        with tempfile.TemporaryDirectory(prefix="liquor-design-") as scratch:
            photo_folder = photo_library(
                library,
                Path(scratch) / ARTEFACT_NAME,
                photos,
                version=f"{library.info.version}-design-{design}",
                source=f"hardware.sim.liquor design {design} seed {reference}",
                finder=finder,
            )
            photo_views_library = load_library(photo_folder)
            for seed in frame_seeds:
                simulator = liquor_sim.LiquorSimulator(
                    seed, *FRAME_SHAPE, catalogue_ids=ids, varied=True, design=design
                )
                _recognised(photo_views_library, simulator, frames_per_seed, evidence, correct, names, facts)
    if photo_designs:
        described += (
            f"; labels of designs {', '.join(map(str, photo_designs))} added from photos, varied frames of "
            f"seeds {PHOTO_CALIBRATION_SEEDS[0]}-{PHOTO_CALIBRATION_SEEDS[-1]}"
        )
    try:
        fitted = fit(evidence, correct, fitted_on=described)
    except ValueError:  # too few frames, or all right: keep the prior rather than fit nonsense
        fitted = Calibration.default()
    return fitted.with_names(sum(names), len(names)).with_facts(sum(facts), len(facts))


def design_photos(seed: int, design: int, catalogue_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """``PHOTOS_PER_PRODUCT`` varied frames of each product with its labels of ``design``: the photos a
    site would take to add it."""
    simulator = liquor_sim.LiquorSimulator(
        seed, *FRAME_SHAPE, catalogue_ids=tuple(catalogue_ids), varied=True, design=design
    )
    photos: dict[str, list[np.ndarray]] = {}
    for number, catalogue_id in enumerate(catalogue_ids):
        for shot in range(PHOTOS_PER_PRODUCT):
            frame = simulator.generate(number * PHOTOS_PER_PRODUCT + shot, catalogue_id=catalogue_id)
            photos.setdefault(catalogue_id, []).append(np.array(frame.image))
    return photos


def _recognised(
    library: LabelLibrary,
    simulator: liquor_sim.LiquorSimulator,
    count: int,
    evidence: list[Evidence],
    correct: list[bool],
    names: list[bool] | None = None,
    facts: list[bool] | None = None,
) -> None:
    """Recognise ``count`` frames of ``simulator`` (label always read) and keep the evidence and whether
    the best candidate was right; with ``names``, also identify every frame by the names read on it and
    keep, for each identification that would stand (whatever its confidence), whether it was right; with
    ``facts``, for every frame whose ABV and volume read fit one product, whether it was the bottle."""
    settings = LiquorSettings(read_labels="always", min_confidence=NAMES_COUNTED_FROM)
    recogniser = LabelRecogniser(library, settings, _reader(settings.ocr_threads))
    for index in range(count):
        shot = simulator.generate(index)
        rgb = liquor_sim.decode(liquor_sim.encode(shot.image, "jpeg", quality=shot.jpeg_quality))
        recognition = recogniser.by_keypoints(rgb)
        assert recogniser.reader is not None
        reads = recogniser.reader.read_frame(rgb) if names is not None or facts is not None else []
        if names is not None:
            named = recogniser.by_names(rgb, recognition, reads)
            if named is not None and named.best is not None and not named.needs_officer:
                names.append(named.best.product.catalogue_id == shot.catalogue_id)
        if facts is not None:
            fits = recogniser.facts_fit(reads)[1]
            if len(fits) == 1:
                facts.append(fits[0].catalogue_id == shot.catalogue_id)
        if recognition.evidence is None or recognition.best is None:
            continue
        evidence.append(recognition.evidence)
        correct.append(recognition.best.product.catalogue_id == shot.catalogue_id)


@functools.cache
def _reader(threads: int) -> LabelReader:
    return LabelReader(threads)
