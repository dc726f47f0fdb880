"""Offline tools of the vehicle comparison: build the ``vehicle-references`` artefact (``build``) and
evaluate the plugin on simulated portal scans (``evaluate``); ``cli`` adds them to ``smartcustoms``.
They may import the simulator; the plugin's runtime modules never import them.

Seeds: the thresholds were set looking only at vehicle seeds 200-299 (``DEVELOPMENT_SEEDS``, which the
evaluation refuses); reported figures use seeds from 2000 on.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(200, 300)
EVALUATION_SEED = 2000
EVALUATION_COUNT = 100
