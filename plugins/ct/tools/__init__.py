"""Offline tools of the CT detector: the evaluation on simulated volumes (``evaluate``), added to
``smartcustoms`` by ``cli``. They may import the simulator; the plugin's runtime modules never import them.

Seeds: the thresholds were set looking only at CT seeds 100-199 (``DEVELOPMENT_SEEDS``, which the
evaluation refuses); reported figures use seeds from 1000 on.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(100, 200)
EVALUATION_SEED = 1000
EVALUATION_COUNT = 200
