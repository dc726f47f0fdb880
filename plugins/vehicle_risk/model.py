"""The ``vehicle-risk-model`` artefact: the trained model the plugin scores crossings with.

Built by ``smartcustoms library build vehicle_risk`` (``tools.build``) into ``<artefact root>/
vehicle-risk-model/``: the LightGBM model (``model.txt``, ``features.json``, as ``GbmModel.save``
writes them), ``warm_scores.json`` (the model's scores on held-out validation crossings, which seed the
inspection budget's threshold before the first crossing arrives) and ``training.json`` (what it was
trained on and how it did on validation, for people).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactError, ArtefactInfo
from smartcustoms.core.risk import GbmModel
from smartcustoms.plugins.vehicle_risk.features import FEATURE_NAMES

ARTEFACT_NAME = "vehicle-risk-model"
BUILD_COMMAND = "smartcustoms library build vehicle_risk --source sim"
WARM_SCORES_FILE = "warm_scores.json"
TRAINING_FILE = "training.json"


@dataclass(frozen=True, eq=False)
class RiskModel:
    """The loaded artefact."""

    info: ArtefactInfo
    gbm: GbmModel
    warm_scores: tuple[float, ...]
    training: Mapping[str, Any]  # training.json: seeds, crossings, validation figures


def model_folder(model_dir: str, artefact_root: str | Path) -> Path:
    """``model_dir`` if set, else ``<artefact root>/vehicle-risk-model``."""
    return artefacts.locate(ARTEFACT_NAME, model_dir, artefact_root)


def load_model(folder: str | Path) -> RiskModel:
    """The model in ``folder``, verified; ArtefactError if it is missing, altered, or built for other
    features than this plugin computes."""
    info = artefacts.read(folder, expected_name=ARTEFACT_NAME, build_hint=BUILD_COMMAND)
    try:
        gbm = GbmModel.load(info.path)
        warm = json.loads((info.path / WARM_SCORES_FILE).read_text())["scores"]
        warm_scores = tuple(float(score) for score in warm)
        training = dict(json.loads((info.path / TRAINING_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ArtefactError(
            f"{info.path}: unreadable model ({error}): rebuild with `{BUILD_COMMAND}`"
        ) from None
    if gbm.feature_names != FEATURE_NAMES:
        raise ArtefactError(
            f"{info.path}: the model was built for other features than this plugin computes: "
            f"rebuild with `{BUILD_COMMAND}`"
        )
    return RiskModel(info, gbm, warm_scores, training)


def write_model(
    folder: Path, gbm: GbmModel, warm_scores: Sequence[float], training: Mapping[str, Any]
) -> None:
    """Write the artefact's files into ``folder`` (the staging folder of ``artefacts.build``)."""
    gbm.save(folder)
    rounded = [round(float(score), 6) for score in warm_scores]
    (folder / WARM_SCORES_FILE).write_text(json.dumps({"scores": rounded}) + "\n")
    (folder / TRAINING_FILE).write_text(json.dumps(dict(training), indent=1, sort_keys=True) + "\n")
