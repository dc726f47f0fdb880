"""The X-ray plugins: ``xray_detector`` (the auto-detector against a threat image library) and
``dense_region`` (the dense-object alarm), sharing one set of numba kernels.

Runtime modules: ``plugin`` (the detector's hook class), ``detector`` (its engine), ``dense_region``,
``materials``, ``_recognition``, ``_kernels``, ``library`` and ``model`` (the ``xray-library`` artefact
they load). ``tools/`` holds what runs offline: building the artefact, fitting, tuning, evaluating.
The runtime modules never import ``tools`` nor the simulators.
"""

from __future__ import annotations

from smartcustoms.plugins.xray.dense_region import DenseRegionPlugin
from smartcustoms.plugins.xray.detector import XrayDetector
from smartcustoms.plugins.xray.plugin import XrayDetectorPlugin

__all__ = ["DenseRegionPlugin", "XrayDetector", "XrayDetectorPlugin"]
