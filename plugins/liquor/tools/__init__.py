"""Offline tools of liquor label recognition: build the ``liquor-labels`` artefact (``build``), add a
product from photos (``add``), evaluate the plugin (``evaluate``); ``cli`` adds them to ``smartcustoms``.
They may import the simulators; the plugin's runtime modules never import them.

Seeds of ``hardware.sim.liquor``: the matcher's settings were chosen looking only at seeds 100-199
(``DEVELOPMENT_SEEDS``); the confidence model is fitted on seeds 300-309 (``CALIBRATION_SEEDS``) when the
artefact is built. The evaluation refuses both; reported figures use seeds from 2000 on. The independent
renderer (``hardware.sim.liquor_alt``) is used for nothing but evaluation: its reference photos come from
seed ``ALT_REFERENCE_SEED``, its test frames from any other seed.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(100, 200)
CALIBRATION_SEEDS = range(300, 310)
CALIBRATION_FRAMES_PER_SEED = 30
EVALUATION_SEED = 2000
EVALUATION_COUNT = 280
ALT_REFERENCE_SEED = 9000
ALT_PHOTOS_PER_PRODUCT = 3
FRAME_SHAPE = (720, 960)  # (height, width) of the red-channel camera's frames
