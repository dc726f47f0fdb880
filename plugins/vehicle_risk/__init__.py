"""The vehicle risk plugin: ``vehicle_risk``, cross-boundary private-car crossings scored in real time
from the plate's and the driver's history, with the model's own reasons (seed system 4).

Runtime modules: ``plugin`` (the hook class and its settings), ``features`` (a crossing's features,
online and offline alike), ``history`` (the plate's and driver's history in keyed state, and what a
closed search report adds to it), ``watchlist`` (the officers' watchlist in the same state) and
``model`` (the ``vehicle-risk-model`` artefact it loads). ``tools/`` holds what runs offline: the
time-ordered replay of the simulator, building the artefact, the evaluation and the watchlist command.
The runtime modules never import ``tools`` nor the simulators.
"""

from __future__ import annotations

from smartcustoms.plugins.vehicle_risk.features import FEATURE_NAMES, CrossingFeatures, crossing_features
from smartcustoms.plugins.vehicle_risk.history import CrossingHistory, record_search
from smartcustoms.plugins.vehicle_risk.plugin import RiskSettings, VehicleRiskPlugin

__all__ = [
    "FEATURE_NAMES",
    "CrossingFeatures",
    "CrossingHistory",
    "RiskSettings",
    "VehicleRiskPlugin",
    "crossing_features",
    "record_search",
]
