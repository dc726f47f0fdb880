"""Built-in plugins. They register exactly like third-party plugins, from this one list."""

from __future__ import annotations

DEFAULT_PLUGINS: tuple[str, ...] = (
    "smartcustoms.plugins.xray_detector",
    "smartcustoms.plugins.dense_region",
    "smartcustoms.plugins.rfid_epc_check",
    "smartcustoms.plugins.ct_detector",
    "smartcustoms.plugins.vehicle_compare",
    "smartcustoms.plugins.onnx_detector",
    "smartcustoms.plugins.noop",
    "smartcustoms.plugins.alert_log",
)
