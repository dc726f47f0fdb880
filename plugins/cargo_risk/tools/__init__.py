"""Offline tools of cargo_risk: replay history, train the model, evaluate it against baselines.

Simulator seeds: ``TRAINING_SEED`` builds the shipped model; ``EVALUATION_SEED`` is never used to build
or tune anything (its importers and declarants are other companies than the training seed's).
"""

from __future__ import annotations

TRAINING_SEED = 11
TRAINING_BATCHES = 600  # of 100 declarations: about 14 days of flow
EVALUATION_SEED = 12
EVALUATION_BATCHES = 1000
