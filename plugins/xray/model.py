"""The fitted model of the X-ray auto-detector: the clutter spectrum that whitens the template search,
and the logistic verifiers that turn a verified peak's match statistics into a probability.

It is fitted on simulator seeds by ``python -m smartcustoms.plugins.xray.tools.fit`` and shipped in the
``xray-library`` artefact as ``model.json``::

    {"fitted_on": "clutter: seed 120 scans 0-39 ...",
     "clutter": {"frequency_per_cm": [...], "power_a": [...], "power_b": [...]},
     "verifier": {"mean": [...], "scale": [...], "weights": [...], "bias": -9.1},
     "class_verifiers": {"firearm": {...}, ...}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = (
    "search_snr",
    "metal_cover",
    "organic_cover",
    "log_level",
    "cosine",
    "edge_cosine",
    "cells_held",
    "worst_quadrant",
    "top3",
)


@dataclass(frozen=True)
class ClutterModel:
    """Radial power spectrum of the organic and metal maps of threat-free bags (per-cell variance)."""

    frequency_per_cm: tuple[float, ...]
    power_a: tuple[float, ...]
    power_b: tuple[float, ...]
    floor: float = 0.1  # of the mean power, added before whitening so that no frequency explodes

    def whitening(self, shape: tuple[int, int], cell_cm: float) -> np.ndarray:
        """1 / sqrt(power) on the rfft2 grid of ``shape``, for the two channels: (2, rows, cols // 2 + 1)."""
        fy = np.fft.fftfreq(shape[0], d=cell_cm)[:, None]
        fx = np.fft.rfftfreq(shape[1], d=cell_cm)[None, :]
        radius = np.hypot(fy, fx)
        filters = []
        for power in (self.power_a, self.power_b):
            spectrum = np.interp(radius, self.frequency_per_cm, power)
            filters.append(1.0 / np.sqrt(spectrum + self.floor * spectrum.mean()))
        return np.stack(filters)

    @classmethod
    def measure(
        cls, maps: Sequence[tuple[np.ndarray, np.ndarray]], cell_cm: float, bins: int = 24
    ) -> ClutterModel:
        """Estimate from (a_grid, b_grid) pairs of threat-free scans of one shape."""
        shape = maps[0][0].shape
        fy = np.fft.fftfreq(shape[0], d=cell_cm)[:, None]
        fx = np.fft.rfftfreq(shape[1], d=cell_cm)[None, :]
        radius = np.hypot(fy, fx).ravel()
        edges = np.concatenate([[0.0], np.geomspace(radius[radius > 0].min(), radius.max() + 1e-9, bins)])
        which = np.clip(np.searchsorted(edges, radius, side="right") - 1, 0, bins - 1)
        counts = np.bincount(which, minlength=bins)
        kept = (counts > 0) & (np.bincount(which, radius, minlength=bins) > 0)  # non-empty, not DC alone
        centres = np.bincount(which, radius, minlength=bins)[kept] / counts[kept]
        powers = []
        for channel in (0, 1):
            total = np.zeros(radius.size)
            for pair in maps:
                values = pair[channel] - pair[channel].mean()
                total += (np.abs(np.fft.rfft2(values)) ** 2).ravel() / values.size
            powers.append(np.bincount(which, total / len(maps), minlength=bins)[kept] / counts[kept])
        return cls(
            (0.0, *map(float, centres)),
            (float(powers[0][0]), *map(float, powers[0])),
            (float(powers[1][0]), *map(float, powers[1])),
        )


@dataclass(frozen=True)
class Verifier:
    """Logistic model over FEATURES: the probability that a verified peak is its class."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, features: np.ndarray) -> float:
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(
            1.0 / (1.0 + math.exp(-float(np.clip(z @ np.asarray(self.weights) + self.bias, -40, 40))))
        )

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, l2: float = 1e-2, steps: int = 50) -> Verifier:
        """Maximum likelihood with a small ridge penalty, by Newton's method."""
        mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-9
        x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
        w = np.zeros(x.shape[1])
        penalty = np.full(x.shape[1], l2)
        penalty[-1] = 0.0
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
            gradient = x.T @ (p - labels) + penalty * w
            hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
            w -= np.linalg.solve(hessian, gradient)
        return cls(tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, w[:-1])), float(w[-1]))


@dataclass(frozen=True)
class Model:
    """The clutter spectrum, the pooled verifier and the per-class ones, and what they were fitted on."""

    clutter: ClutterModel
    verifier: Verifier
    class_verifiers: Mapping[str, Verifier] = field(default_factory=dict)
    fitted_on: str = ""

    def verifier_for(self, label: str) -> Verifier:
        """The class's own verifier, else the pooled one (a class added through a library folder)."""
        return self.class_verifiers.get(label, self.verifier)


def read_model(path: str | Path) -> Model:
    """Parse a ``model.json``; ValueError naming the file when it does not fit FEATURES."""
    path = Path(path)
    try:
        fields = json.loads(path.read_text())
        return model_from_fields(fields)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a model of the X-ray detector: {error}") from None


def model_from_fields(fields: Mapping[str, Any]) -> Model:
    return Model(
        ClutterModel(**_tuples(fields["clutter"])),
        _verifier(fields["verifier"]),
        {label: _verifier(v) for label, v in dict(fields.get("class_verifiers", {})).items()},
        str(fields.get("fitted_on", "")),
    )


def model_fields(model: Model) -> dict[str, Any]:
    """The model as ``model.json`` holds it."""
    return {
        "fitted_on": model.fitted_on,
        "clutter": {
            "frequency_per_cm": list(model.clutter.frequency_per_cm),
            "power_a": list(model.clutter.power_a),
            "power_b": list(model.clutter.power_b),
        },
        "verifier": verifier_fields(model.verifier),
        "class_verifiers": {label: verifier_fields(v) for label, v in model.class_verifiers.items()},
    }


def verifier_fields(verifier: Verifier) -> dict[str, Any]:
    return {
        "mean": list(verifier.mean),
        "scale": list(verifier.scale),
        "weights": list(verifier.weights),
        "bias": verifier.bias,
    }


def _tuples(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()}


def _verifier(fields: Mapping[str, Any]) -> Verifier:
    verifier = Verifier(**_tuples(fields))
    if len(verifier.weights) != len(FEATURES) or not all(map(math.isfinite, verifier.weights)):
        raise ValueError(f"a verifier does not match the features {FEATURES}")
    return verifier
