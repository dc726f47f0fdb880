"""Build the ``xray-library`` artefact: library entries and a fitted model, from a named source.

``smartcustoms library build xray`` runs it:

- ``--source sim`` (default): the 64 simulated signatures of LIBRARY_SEEDS (``simulated.simulated_entries``),
  version ``sim-v1``;
- ``--source DIR``: a site's folder of labelled signature images (``labels.csv`` and ``.npy`` files, as
  ``library.load_library_dir`` reads them), version ``site-<date>``.

Both ship a model: by default the one fitted on simulator seeds and kept here, ``fitted_model.json``
(``python -m smartcustoms.plugins.xray.tools.fit --out FILE`` refits one; ``--model FILE`` uses it).
"""

from __future__ import annotations

import datetime
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.plugins.xray.library import (
    ARTEFACT_NAME,
    MODEL_FILE,
    LibraryEntry,
    LibraryError,
    load_library_dir,
    write_library_dir,
)
from smartcustoms.plugins.xray.model import read_model
from smartcustoms.plugins.xray.tools import simulated
from smartcustoms.plugins.xray.tools.seeds import LIBRARY_SEEDS

SIM_VERSION = "sim-v1"
FITTED_MODEL = Path(__file__).with_name("fitted_model.json")


def build_from_simulator(out: str | Path, model_path: str | Path = FITTED_MODEL) -> ArtefactInfo:
    """The artefact of the simulated library (a few seconds: 128 simulated scans)."""
    read_model(model_path)  # a model that does not parse is refused before seconds of simulation
    seeds = LIBRARY_SEEDS[: simulated.LIBRARY_ENTRIES_PER_CLASS]
    height, width = simulated.LIBRARY_SCAN_SHAPE
    source = (
        f"simulator: {simulated.LIBRARY_ENTRIES_PER_CLASS} entries per class of "
        f"{', '.join(simulated.LIBRARY_CLASSES)}, XraySimulator(seed, {height}, {width}) seeds "
        f"{seeds.start}-{seeds.stop - 1}, one scan per class with and without the threat, "
        "isolated by difference"
    )
    return build_artefact(out, simulated.simulated_entries(), model_path, SIM_VERSION, source)


def build_from_folder(
    out: str | Path, folder: str | Path, model_path: str | Path = FITTED_MODEL, version: str = ""
) -> ArtefactInfo:
    """The artefact of a site's folder of labelled signature images; LibraryError if it does not read."""
    folder = Path(folder).absolute()
    entries = load_library_dir(folder)
    counts = Counter(entry.label for entry in entries)
    source = f"labelled signature images in {folder}: " + ", ".join(
        f"{label} {count}" for label, count in sorted(counts.items())
    )
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return build_artefact(out, entries, model_path, version or f"site-{today}", source)


def build_artefact(
    out: str | Path, entries: Sequence[LibraryEntry], model_path: str | Path, version: str, source: str
) -> ArtefactInfo:
    """Write ``entries`` and the model at ``model_path`` as the artefact ``out`` (replacing an older
    build there); the manifest's source names both."""
    if not entries:
        raise LibraryError(f"{source}: no entry")
    repeated = sorted(entry_id for entry_id, n in Counter(e.entry_id for e in entries).items() if n > 1)
    if repeated:
        raise LibraryError(f"{source}: entries named alike (one file each): {', '.join(repeated)}")
    model_path = Path(model_path)
    model = read_model(model_path)  # a model that does not parse is refused before anything is written
    provenance = "shipped with the plugin" if model_path == FITTED_MODEL else str(model_path.absolute())
    source += f"; model {model_path.name} ({provenance}): {model.fitted_on or 'no provenance given'}"

    def write(staging: Path) -> None:
        write_library_dir(staging, entries)
        shutil.copyfile(model_path, staging / MODEL_FILE)

    return artefacts.build(out, name=ARTEFACT_NAME, version=version, source=source, write=write)
