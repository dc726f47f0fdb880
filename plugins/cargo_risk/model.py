"""The cargo risk model as a versioned artefact: the booster, its features, and calibration scores.

``cargo-risk-model`` holds the LightGBM model (``model.txt``, ``features.json``) and
``calibration.json``: scores of declarations the model was not trained on, from which the inspection
budget takes its first threshold, and how the model was trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.risk import GbmModel

from .features import FEATURES

ARTEFACT_NAME = "cargo-risk-model"
BUILD_COMMAND = "smartcustoms library build cargo_risk --source sim"
CALIBRATION_FILE = "calibration.json"


class ModelError(ValueError):
    """The artefact does not hold a model of this plugin's features."""


@dataclass(frozen=True)
class CargoModel:
    info: ArtefactInfo
    model: GbmModel
    calibration_scores: tuple[float, ...]


def model_folder(model_dir: str, artefact_root: str | Path) -> Path:
    return artefacts.locate(ARTEFACT_NAME, model_dir, artefact_root)


def load_model(folder: str | Path) -> CargoModel:
    """Read and verify the artefact: ArtefactError naming the build command when missing or altered."""
    info = artefacts.read(folder, expected_name=ARTEFACT_NAME, build_hint=BUILD_COMMAND)
    model = GbmModel.load(info.path)
    if model.feature_names != FEATURES:
        raise ModelError(
            f"{info.path}: the model's features are not this plugin's; rebuild it with `{BUILD_COMMAND}`"
        )
    calibration = json.loads((info.path / CALIBRATION_FILE).read_text())
    return CargoModel(info, model, tuple(float(s) for s in calibration["scores"]))


def write_model(
    folder: Path, model: GbmModel, calibration_scores: list[float], training: dict[str, object]
) -> None:
    """Write the artefact's files into ``folder`` (the staging folder of ``artefacts.build``)."""
    model.save(folder)
    document = {"scores": [round(s, 6) for s in calibration_scores], "training": training}
    (folder / CALIBRATION_FILE).write_text(json.dumps(document, indent=1) + "\n")
