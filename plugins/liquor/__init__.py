"""The liquor plugin: ``liquor_label``, liquor bottles at the red channel recognised by their label.

Runtime modules: ``plugin`` (the hook class), ``recogniser`` (match, read, decide), ``matcher`` (ORB
keypoints voted and checked by geometry), ``verify`` (the dense check of a match's whole label), ``index``
and ``_kernels`` (the descriptor hash index), ``features``, ``reading`` (ABV and volume read with
rapidocr-onnxruntime), ``names`` (the bottle identified by the brand and product names read on the whole
frame, when the keypoints leave it to an officer), ``calibration`` (the confidence model), ``library``
(the ``liquor-labels`` artefact it loads) and ``settings``. ``tools/`` holds what runs offline: building
the artefact from the simulator's label artwork, adding a product from photos, the evaluation. The runtime
modules never import ``tools`` nor the simulators.
"""

from __future__ import annotations

from smartcustoms.plugins.liquor.library import LabelLibrary, Product, load_library
from smartcustoms.plugins.liquor.plugin import LABEL, LiquorLabelPlugin
from smartcustoms.plugins.liquor.recogniser import LabelRecogniser, Recognition
from smartcustoms.plugins.liquor.settings import LiquorSettings

__all__ = [
    "LABEL",
    "LabelLibrary",
    "LabelRecogniser",
    "LiquorLabelPlugin",
    "LiquorSettings",
    "Product",
    "Recognition",
    "load_library",
]
