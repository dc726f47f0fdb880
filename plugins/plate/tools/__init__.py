"""Offline tools of the plate reader: the evaluation on the plate camera simulator (``evaluate``);
``cli`` adds it to ``smartcustoms eval``. They may import the simulator; the plugin's runtime modules
never import them.

Seeds: the reader (line finding, the cheap text test, the look-alike credits, the second look, the
confidence threshold) was developed looking only at plate simulator seeds 100-199 (``DEVELOPMENT_SEEDS``,
which the evaluation refuses; seeds 100-104 were the ones actually used); reported figures use seed 1200
and others from 1000 on.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(100, 200)
EVALUATION_SEED = 1200
EVALUATION_COUNT = 400
