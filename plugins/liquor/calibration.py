"""The match's confidence: the probability that the bottle recognised is the bottle shown.

A logistic model (Platt scaling) over what the recogniser measured, fitted on labelled frames that are
used for nothing else (simulator seeds reserved for it, see tools/__init__.py):

- ``top``: log(1 + inliers of the best line's view), how much of the label agreed geometrically;
- ``second``: log(1 + inliers of the best other line), the margin's other side;
- ``dense``: the dense check (``verify``): how well the whole label, warped back through the match's
  homography, correlates with the view, -1 to 1; inliers alone can agree by chance, and their number
  depends on the view (an artwork has many more corners than a photo of a small label);
- ``ocr_agree`` / ``ocr_disagree``: how many of ABV and volume were read and agree / disagree with the
  chosen bottle's database entry;
- ``ambiguous``: 1 when the chosen line has other bottles that nothing read on the label rules out
  (the volume was not read), so the choice between them is a guess.

Each weight is held on its side (``SIGNS``) or at 0: on calibration frames where nearly every match is
right, a feature that says little gets a weight of either sign from a few frames, and a model that is
surer when a rival line has more inliers, or the reading disagrees, would carry that to every site.

A bottle identified by the names read on its label (``names``, when the keypoints leave it to an officer)
has no inliers or dense score to weigh; its confidence is how often such identifications were right on
the calibration frames, ``(right + 1) / (frames + 2)`` (``names_right`` of ``names_frames``). A library
calibrated before names were read has none counted: 0.5, below any sensible ``min_confidence``, so such
a bottle still goes to an officer, with its candidates.

A shortlist by the printed facts (``LabelRecogniser.with_facts``: the products whose ABV and volume are
both those read on the frame, when neither the keypoints nor the names identify the bottle) is weighed
the same way: ``(right + 1) / (frames + 2)`` over the calibration frames whose facts read fit exactly one
product (``facts_right`` of ``facts_frames``), divided among the products they fit.

``Calibration.default()`` is a hand-set prior used only until a fit exists (a library built without
calibration frames); the fitted weights, the frames they came from and the fit's Brier score are kept in
the library's ``calibration.json``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURES = ("top", "second", "dense", "ocr_agree", "ocr_disagree", "ambiguous")
# the side each feature may only push the confidence to: never surer for fewer inliers, a rival line's
# inliers, a label that looks less like its view, a reading that agrees less or disagrees, a guess
SIGNS = (1, -1, 1, 1, -1, -1)
_FEATURES_BEFORE_DENSE = ("top", "second", "ocr_agree", "ocr_disagree", "ambiguous")


@dataclass(frozen=True)
class Evidence:
    """What one recognition measured, for the confidence model."""

    top_inliers: int
    second_inliers: int
    ocr_agree: int = 0
    ocr_disagree: int = 0
    ambiguous: bool = False
    dense: float = 0.0

    def vector(self) -> np.ndarray:
        return np.array(
            [
                math.log1p(self.top_inliers),
                math.log1p(self.second_inliers),
                float(self.dense),
                float(self.ocr_agree),
                float(self.ocr_disagree),
                float(self.ambiguous),
            ]
        )


@dataclass(frozen=True)
class Calibration:
    """p = 1 / (1 + exp(-(weights . features + bias)))."""

    weights: tuple[float, ...]
    bias: float
    fitted_on: str = ""
    frames: int = 0
    brier: float | None = None
    names_right: int = 0  # identifications by the names read that were right, on the calibration frames
    names_frames: int = 0  # identifications by the names read, on the calibration frames
    facts_right: int = 0  # frames whose ABV and volume read fit one product, and it was the bottle shown
    facts_frames: int = 0  # frames whose ABV and volume read fit one product, on the calibration frames

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"a calibration has {len(FEATURES)} weights ({', '.join(FEATURES)})")
        if not 0 <= self.names_right <= self.names_frames:
            raise ValueError("a calibration's names_right must be from 0 to names_frames")
        if not 0 <= self.facts_right <= self.facts_frames:
            raise ValueError("a calibration's facts_right must be from 0 to facts_frames")

    @classmethod
    def default(cls) -> Calibration:
        """A prior: about 0.5 at 12 inliers against none and a dense score of 0.5, much less when a rival
        line is as strong or the label does not look like the view."""
        return cls((2.5, -2.5, 6.0, 0.7, -2.0, -3.0), -9.2, fitted_on="prior (not fitted)")

    def confidence(self, evidence: Evidence) -> float:
        z = float(np.dot(self.weights, evidence.vector())) + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    @property
    def names_confidence(self) -> float:
        """The confidence of an identification by the names read (Laplace's rule on the counts)."""
        return (self.names_right + 1) / (self.names_frames + 2)

    @property
    def facts_confidence(self) -> float:
        """The confidence that the one product the ABV and volume read fit is the bottle (Laplace's rule)."""
        return (self.facts_right + 1) / (self.facts_frames + 2)

    def with_names(self, right: int, frames: int) -> Calibration:
        return dataclasses.replace(self, names_right=right, names_frames=frames)

    def with_facts(self, right: int, frames: int) -> Calibration:
        return dataclasses.replace(self, facts_right=right, facts_frames=frames)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": "platt",
            "features": list(FEATURES),
            "weights": list(self.weights),
            "bias": self.bias,
            "fitted_on": self.fitted_on,
            "frames": self.frames,
            "brier": self.brier,
            "names_right": self.names_right,
            "names_frames": self.names_frames,
            "facts_right": self.facts_right,
            "facts_frames": self.facts_frames,
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Calibration:
        features = list(entry.get("features", []))
        weights = [float(w) for w in entry["weights"]]
        if features == list(_FEATURES_BEFORE_DENSE) and len(weights) == len(features):
            weights.insert(FEATURES.index("dense"), 0.0)  # a model fitted before the dense check
        elif features != list(FEATURES):
            raise ValueError(f"calibration features must be {list(FEATURES)}")
        brier = entry.get("brier")
        return cls(
            tuple(weights),
            float(entry["bias"]),
            str(entry.get("fitted_on", "")),
            int(entry.get("frames", 0)),
            None if brier is None else float(brier),
            int(entry.get("names_right", 0)),
            int(entry.get("names_frames", 0)),
            int(entry.get("facts_right", 0)),
            int(entry.get("facts_frames", 0)),
        )


def fit(
    evidence: Sequence[Evidence], correct: Sequence[bool], *, fitted_on: str, l2: float = 0.1
) -> Calibration:
    """Logistic regression of ``correct`` on the evidence (Newton's method, a small L2 penalty on the
    weights so that a separable sample does not send them to infinity), each weight on its side of
    ``SIGNS`` or 0: a weight fitted on the wrong side is held at 0 and the others fitted again, the
    furthest out first, until none is, a weight once held staying held (calibration frames where nearly
    every match is right say little about some features, and their weights otherwise swing with a few
    frames). ValueError for fewer than 20 frames or a sample of one class only."""
    if len(evidence) != len(correct):
        raise ValueError("one label per piece of evidence")
    labels = np.asarray(correct, dtype=np.float64)
    if len(labels) < 20 or labels.min() == labels.max():
        raise ValueError("calibration needs at least 20 frames, some right and some wrong")
    x = np.column_stack([np.stack([e.vector() for e in evidence]), np.ones(len(labels))])
    signs = np.array([*SIGNS, 0.0])  # the bias takes either side ...
    penalties = np.array([l2] * len(SIGNS) + [0.0])  # ... and is not shrunk
    free = np.ones(x.shape[1], bool)
    while True:
        beta = np.zeros(x.shape[1])
        beta[free] = _logistic(x[:, free], labels, penalties[free])
        wrong_side = np.where(free, signs * beta, 0.0)
        if wrong_side.min() >= 0:
            break
        free[int(np.argmin(wrong_side))] = False
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -40, 40)))
    brier = float(np.mean((p - labels) ** 2))
    weights = tuple(float(w) for w in beta[:-1])
    return Calibration(weights, float(beta[-1]), fitted_on, len(labels), round(brier, 5))


def _logistic(x: np.ndarray, labels: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """The coefficients of a logistic regression of ``labels`` on the columns of ``x``, each column's
    own L2 ``penalty``, by Newton's method."""
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -40, 40)))
        gradient = x.T @ (p - labels) + penalty * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta
