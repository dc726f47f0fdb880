"""The CT plugin: ``ct_detector``, 3D threat detection in CT volumes (firearms, knives, explosives,
cigarettes) from density, material and shape.

Runtime modules: ``plugin`` (the hook class and how a frame becomes a volume), ``detector`` (the rules),
``segmentation`` (material bands, connected components, their shape), ``settings`` and ``_kernels``.
It loads no reference data. ``tools/`` holds what runs offline (the evaluation on simulated volumes);
the runtime modules never import ``tools`` nor the simulators.
"""

from __future__ import annotations

from smartcustoms.plugins.ct.detector import CtDetector
from smartcustoms.plugins.ct.plugin import CtDetectorPlugin
from smartcustoms.plugins.ct.settings import LABELS, CtSettings

__all__ = ["LABELS", "CtDetector", "CtDetectorPlugin", "CtSettings"]
