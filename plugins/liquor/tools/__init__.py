"""Offline tools of liquor label recognition: build the ``liquor-labels`` artefact (``build``), add a product
from photos (``add``), evaluate the plugin (``evaluate``); ``cli`` adds them to ``smartcustoms``. They may
import the simulators; the plugin's runtime modules never import them.

Seeds of ``hardware.sim.liquor``: the matcher's settings and the dense check's were chosen looking only at
seeds 100-199 (``DEVELOPMENT_SEEDS``, with and without ``varied``, any ``design``); the confidence model
is fitted when the artefact is built on frames of two kinds: seeds 300-309 (``CALIBRATION_SEEDS``, the odd
ones ``varied``) recognised against the library's artwork views, and, for each of ``PHOTO_DESIGNS`` (the
catalogue's labels drawn another way), a library whose views are made from photos (seed
``PHOTO_REFERENCE_SEEDS``, ``PHOTOS_PER_PRODUCT`` each, through ``library add``'s path) recognising frames
of seeds 330-339 (``PHOTO_CALIBRATION_SEEDS``, ``varied``), as a site that adds its products from photos;
those frames are also identified by the names read on them, and the identifications that would stand
counted (right or wrong) for their confidence. The evaluation refuses all of them; reported figures use
seeds from 2000 on. The independent renderer (``hardware.sim.liquor_alt``) is used for nothing but
evaluation: its reference photos come from seed ``ALT_REFERENCE_SEED``, its test frames from any other
seed.
"""

from __future__ import annotations

DEVELOPMENT_SEEDS = range(100, 200)
CALIBRATION_SEEDS = range(300, 310)
CALIBRATION_FRAMES_PER_SEED = 30
PHOTO_DESIGNS = (1, 2)
PHOTO_REFERENCE_SEEDS = range(320, 322)  # one per design
PHOTO_CALIBRATION_SEEDS = range(330, 340)  # split between the designs
PHOTOS_PER_PRODUCT = 3
EVALUATION_SEED = 2000
EVALUATION_COUNT = 280
ALT_REFERENCE_SEED = 9000
ALT_PHOTOS_PER_PRODUCT = 3
FRAME_SHAPE = (720, 960)  # (height, width) of the red-channel camera's frames
