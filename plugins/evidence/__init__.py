"""The evidence store on RFID: where each seized item is, and its chain of custody (seed system 11).

Runtime modules: ``plugin`` (the hook classes ``evidence_locator`` and ``evidence_orders``, and the
``Locator`` they run), ``locate`` (a tag's track: smoothed signal per zone, dwell, hysteresis),
``custody`` (the item registry and work orders, with the two-person rule and the audit trail),
``stocktake`` (expected against read, and storage slot suggestions), ``store`` (the state on Redis and
its memory twin). ``tools/`` holds the evaluation on the warehouse simulator; the runtime modules never
import it nor the simulators.
"""

from __future__ import annotations

from smartcustoms.plugins.evidence.custody import CustodyError, Order, Zones, apply_order, register_item
from smartcustoms.plugins.evidence.plugin import Alert, EvidenceLocationPlugin, EvidenceOrderPlugin, Locator
from smartcustoms.plugins.evidence.store import EvidenceStore, MemoryStore, RedisStore

__all__ = [
    "Alert",
    "CustodyError",
    "EvidenceLocationPlugin",
    "EvidenceOrderPlugin",
    "EvidenceStore",
    "Locator",
    "MemoryStore",
    "Order",
    "RedisStore",
    "Zones",
    "apply_order",
    "register_item",
]
