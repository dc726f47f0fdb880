"""Trains the cargo risk model and writes it as the ``cargo-risk-model`` artefact.

The model trains on the earlier 90% of the declarations (by time) with features from ``replay`` (every
outcome revealed after the lag, as officers' results come back); its scores on the later 10%, which it
never saw, become the calibration the inspection budget starts from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.risk import GbmModel
from smartcustoms.plugins.cargo_risk.features import FEATURES
from smartcustoms.plugins.cargo_risk.model import ARTEFACT_NAME, write_model
from smartcustoms.plugins.cargo_risk.tools import TRAINING_BATCHES, TRAINING_SEED
from smartcustoms.plugins.cargo_risk.tools.replay import replay
from smartcustoms.v1 import frame_pb2

CALIBRATION_SHARE = 0.1


def simulated_records(seed: int, batches: int, size: int = 100) -> list[frame_pb2.Record]:
    from smartcustoms.hardware.sim.records import CargoDeclarationSimulator

    simulator = CargoDeclarationSimulator(seed)
    return [record for index in range(batches) for record in simulator.batch(index, size).records]


def train(
    records: Iterable[frame_pb2.Record], seed: int = 0
) -> tuple[GbmModel, list[float], dict[str, object]]:
    data = replay(records)
    if len(data.declarations) < 100:
        raise ValueError(f"{len(data.declarations)} labelled declarations: need at least 100 to train")
    cut = int(len(data.declarations) * (1.0 - CALIBRATION_SHARE))
    model = GbmModel.train(data.features[:cut], data.illicit[:cut], FEATURES, seed=seed)
    calibration = [float(score) for score in model.score(data.features[cut:])]
    training: dict[str, object] = {
        "declarations": cut,
        "illicit": int(data.illicit[:cut].sum()),
        "calibration_declarations": len(calibration),
        "first_at_s": _finite_or_none(float(np.nanmin(data.times_s))),
        "last_at_s": _finite_or_none(float(np.nanmax(data.times_s))),
    }
    return model, calibration, training


def build(out: Path, records: Iterable[frame_pb2.Record], *, source: str, version: str) -> ArtefactInfo:
    model, calibration, training = train(records)
    training["source"] = source
    return artefacts.build(
        out,
        name=ARTEFACT_NAME,
        version=version,
        source=source,
        write=lambda folder: write_model(folder, model, calibration, training),
    )


def build_from_simulator(out: Path, version: str = "") -> ArtefactInfo:
    records = simulated_records(TRAINING_SEED, TRAINING_BATCHES)
    source = f"simulator seed {TRAINING_SEED}, {len(records):,} declarations"
    return build(out, records, source=source, version=version or "sim-v1")


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
