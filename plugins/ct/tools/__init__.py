"""Offline tools of the CT detector: the evaluation on simulated volumes (``evaluate``), added to
``smartcustoms`` by ``cli``. They may import the simulator; the plugin's runtime modules never import them.

Seeds: the thresholds were set looking only at CT seeds 100-199 (``DEVELOPMENT_SEEDS``, which the
evaluation refuses); reported figures use seeds from 1000 on. The independent generator
(``hardware.sim.ct_alt``, ``eval ct --generator alt``) is never used to set anything: any seed of it
is held out; reported figures use seeds from 7000 on.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(100, 200)
EVALUATION_SEED = 1000
EVALUATION_COUNT = 200
ALT_SEED = 7000
ALT_COUNT = 100
