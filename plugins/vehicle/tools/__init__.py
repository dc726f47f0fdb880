"""Offline tools of the vehicle comparison: build the ``vehicle-references`` artefact (``build``), add a
site's own reference scan to it (``add``, reading DICOS DX, PNG, TIFF and JPEG scans with
``scan_files``), evaluate the plugin on simulated portal scans or on labelled scans from outside
(``evaluate``; ``labelled`` reads such a folder and writes one from the simulator); ``cli`` adds them to
``smartcustoms``. They may import the simulator; the plugin's runtime modules never import them.

Seeds: the thresholds were set looking only at vehicle seeds 200-299 (``DEVELOPMENT_SEEDS``, which the
evaluation refuses); reported figures use seeds from 2000 on.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(200, 300)
EVALUATION_SEED = 2000
EVALUATION_COUNT = 100
