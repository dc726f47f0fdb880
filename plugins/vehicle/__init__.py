"""The vehicle plugin: ``vehicle_compare``, portal X-ray scans of vehicles and containers against
reference scans of their empty model (hidden compartments, undeclared goods, extra load).

Runtime modules: ``plugin`` (the hook class), ``compare`` (the comparison and its judgement), ``zones``
(where a difference lies: outline, zones, regions), ``levels`` (a scan's open beam, dark level and
clipping), ``noise`` (its photon count, measured on it), ``parts`` (a container vehicle's tractor,
trailer and container placed and joined from their own references), ``alignment`` (attenuation,
resampling, shift),
``references`` (the ``vehicle-references`` artefact it loads), ``settings`` and ``_kernels``. ``tools/``
holds what runs offline: building the artefact (from the simulator or a site's folder) and the
evaluation. The runtime modules never import ``tools``
nor the simulators.
"""

from __future__ import annotations

from smartcustoms.plugins.vehicle.compare import Declaration, VehicleComparer
from smartcustoms.plugins.vehicle.plugin import VehicleComparePlugin
from smartcustoms.plugins.vehicle.settings import LABELS, VehicleSettings

__all__ = ["LABELS", "Declaration", "VehicleComparePlugin", "VehicleComparer", "VehicleSettings"]
