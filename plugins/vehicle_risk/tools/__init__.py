"""Offline tools of the vehicle risk plugin: the time-ordered replay of simulated crossings through the
plugin's feature code (``replay``), building the ``vehicle-risk-model`` artefact (``build``), the
evaluation against baselines (``evaluate``), and the commands (``cli``: ``smartcustoms library build
vehicle_risk``, ``smartcustoms eval vehicle-risk``; ``watchlist_cli``: ``smartcustoms watchlist``).
They may import the simulator; the plugin's runtime modules never import them.

Seeds (each a different fleet): the model trains on ``TRAINING_SEEDS`` and its budget's warm-up scores
come from ``VALIDATION_SEED``; the evaluation refuses those and reports on seeds from 1000 on.
"""

from __future__ import annotations

TRAINING_SEEDS = (0, 1, 2, 3)
VALIDATION_SEED = 4
EVALUATION_SEEDS = (1000, 1001)
EVALUATION_SEEDS_FROM = 1000
TRAINING_BATCHES = 150  # per seed, 100 crossings each: ~50 h of one control point's traffic
EVALUATION_BATCHES = 150
