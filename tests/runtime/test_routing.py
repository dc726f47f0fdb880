"""Which plugin sees which frame: modality, configured sources and the spec's metadata keys."""

from __future__ import annotations

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import PluginInfo
from smartcustoms.core.types import Modality, PluginSpec
from smartcustoms.plugins.vehicle import VehicleComparePlugin
from smartcustoms.plugins.xray import DenseRegionPlugin
from smartcustoms.runtime.dispatch import accepts, routed_modalities
from smartcustoms.v1 import frame_pb2


def _frame(
    source: str = "lane-1-xray", modality: int = frame_pb2.MODALITY_XRAY, **metadata: str
) -> frame_pb2.Frame:
    return frame_pb2.Frame(frame_id="f", source_id=source, modality=modality, metadata=metadata)


def _routes(spec: PluginSpec, frame: frame_pb2.Frame, config: PluginConfig | None = None) -> bool:
    info = PluginInfo(spec, "x", "builtin", ())
    config = config or PluginConfig()
    return accepts(info, config, routed_modalities(info, config), frame)


def test_baggage_and_vehicle_scans_go_to_their_own_plugins() -> None:
    bag = _frame()
    portal = _frame("portal-1-xray", vehicle_model="box-truck-1")
    assert _routes(DenseRegionPlugin.spec, bag) and not _routes(DenseRegionPlugin.spec, portal)
    assert _routes(VehicleComparePlugin.spec, portal) and not _routes(VehicleComparePlugin.spec, bag)
    assert _routes(VehicleComparePlugin.spec, _frame("port-7", container_type="container-20ft"))


def test_modality_and_configured_sources_narrow_the_route() -> None:
    spec = PluginSpec("p", "1", consumes=frozenset({Modality.XRAY, Modality.CT}))
    assert not _routes(spec, _frame(modality=frame_pb2.MODALITY_RFID))
    lanes_only = PluginConfig(sources=["lane-*"])
    assert _routes(spec, _frame("lane-4-xray"), lanes_only)
    assert not _routes(spec, _frame("portal-1-xray"), lanes_only)
    ct_only = PluginConfig(consumes=["ct"])
    assert not _routes(spec, _frame(), ct_only)
    assert _routes(spec, _frame(modality=frame_pb2.MODALITY_CT), ct_only)
