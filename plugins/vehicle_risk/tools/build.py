"""Build the ``vehicle-risk-model`` artefact: ``smartcustoms library build vehicle_risk --source sim``.

The model is a ``GbmModel`` (``smartcustoms.core.risk``) trained on the replayed crossings of the
training seeds (``tools.replay``: the plugin's own feature code on a ``MemoryState``), labelled with the
simulator's ground truth. The validation seed, a fleet the model never saw, gives the scores that seed
the plugin's inspection budget and the figures written to ``training.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.risk import GbmModel
from smartcustoms.plugins.vehicle_risk.features import FEATURE_NAMES
from smartcustoms.plugins.vehicle_risk.model import ARTEFACT_NAME, write_model
from smartcustoms.plugins.vehicle_risk.tools import TRAINING_BATCHES, TRAINING_SEEDS, VALIDATION_SEED
from smartcustoms.plugins.vehicle_risk.tools.replay import BATCH_SIZE, replay, replay_seeds

SIM_SOURCE = "sim"
SIM_VERSION = "sim-v1"
VALIDATION_SHARE = 0.05  # the budget's default, for the figure in training.json


def train(seeds: Sequence[int], batches: int, *, seed: int = 0) -> GbmModel:
    """A model trained on the replayed crossings of ``seeds``."""
    data = replay_seeds(list(seeds), batches)
    return GbmModel.train(data.features, data.illicit, FEATURE_NAMES, seed=seed)


def build(
    out: str | Path,
    source: str = SIM_SOURCE,
    *,
    seeds: Sequence[int] = TRAINING_SEEDS,
    validation_seed: int = VALIDATION_SEED,
    batches: int = TRAINING_BATCHES,
) -> ArtefactInfo:
    """Train on the simulator's ``seeds`` and write the artefact into ``out``; ValueError for a source
    other than "sim", a validation seed among the training seeds, or no batches."""
    check_source(source)
    if validation_seed in seeds or batches < 1 or not seeds:
        raise ValueError(
            "training seeds, a validation seed not among them, and at least one batch are needed"
        )
    gbm = train(seeds, batches)
    validation = replay(validation_seed, batches)
    scores = gbm.score(validation.features)
    training = {
        "training_seeds": list(seeds),
        "validation_seed": validation_seed,
        "crossings_per_seed": batches * BATCH_SIZE,
        "validation_recall_at_5pct": _recall_at(scores, validation.illicit, VALIDATION_SHARE),
        "features": list(FEATURE_NAMES),
    }
    return artefacts.build(
        out,
        name=ARTEFACT_NAME,
        version=SIM_VERSION,
        source=f"CrossingSimulator seeds {', '.join(map(str, seeds))}, {batches * BATCH_SIZE} crossings "
        f"each, replayed in time order; validation seed {validation_seed}",
        write=lambda staging: write_model(staging, gbm, scores.tolist(), training),
    )


def check_source(source: str) -> None:
    if source != SIM_SOURCE:
        raise ValueError(f"--source {source}: only 'sim' (the crossing simulator) can train this model")


def _recall_at(scores: np.ndarray, illicit: np.ndarray, share: float) -> float:
    top = np.argsort(-scores, kind="stable")[: max(1, round(share * len(scores)))]
    return round(float(illicit[top].sum() / max(illicit.sum(), 1)), 4)
