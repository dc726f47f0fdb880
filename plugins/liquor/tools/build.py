"""Build the ``liquor-labels`` artefact: ``smartcustoms library build liquor --source sim``.

From the simulator's catalogue (``hardware.sim.liquor``): every product's facts, and for every line
(brand and product name) the label artwork of its first bottle, made into reference views
(``views.artwork_views``: wrapped on a bottle at three turns, ABV and volume boxes found by OCR). Then the
confidence model is fitted (``calibration.fit``) on frames of the calibration seeds, recognised by the
library just written with the label always read, and the artefact is written again with it.
"""

from __future__ import annotations

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
    LibraryError,
    Product,
    View,
    load_library,
    write_library,
)
from smartcustoms.plugins.liquor.reading import LabelReader
from smartcustoms.plugins.liquor.recogniser import LabelRecogniser
from smartcustoms.plugins.liquor.settings import LiquorSettings
from smartcustoms.plugins.liquor.tools import CALIBRATION_FRAMES_PER_SEED, CALIBRATION_SEEDS, FRAME_SHAPE
from smartcustoms.plugins.liquor.tools.views import TextFinder, ViewImage, artwork_views

SIM_SOURCE = "sim"
SIM_VERSION = "sim-v1"
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
    folder: Path, seeds: Sequence[int], frames_per_seed: int, catalogue_ids: Sequence[str]
) -> Calibration:
    """Fit the confidence model on simulator frames (JPEG at each frame's quality, as the camera sends
    them) recognised by the library in ``folder`` with the label always read."""
    library = load_library(folder)
    settings = LiquorSettings(read_labels="always")
    recogniser = LabelRecogniser(library, settings, LabelReader(settings.ocr_threads))
    evidence: list[Evidence] = []
    correct: list[bool] = []
    for seed in seeds:
        simulator = liquor_sim.LiquorSimulator(seed, *FRAME_SHAPE, catalogue_ids=tuple(catalogue_ids))
        for index in range(frames_per_seed):
            shot = simulator.generate(index)
            rgb = liquor_sim.decode(liquor_sim.encode(shot.image, "jpeg", quality=shot.jpeg_quality))
            recognition = recogniser.recognise(rgb)
            if recognition.evidence is None or recognition.best is None:
                continue
            evidence.append(recognition.evidence)
            correct.append(recognition.best.product.catalogue_id == shot.catalogue_id)
    fitted_on = f"hardware.sim.liquor seeds {seeds[0]}-{seeds[-1]}, {frames_per_seed} frames each"
    try:
        return fit(evidence, correct, fitted_on=fitted_on)
    except ValueError:  # too few frames, or all right: keep the prior rather than fit nonsense
        return Calibration.default()
