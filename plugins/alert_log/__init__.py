"""alert_log: writes every alert to the log, one line each, for operators tailing a control point."""

from __future__ import annotations

import logging

from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import PluginSpec
from smartcustoms.v1 import results_pb2


class AlertLogPlugin(Plugin):
    spec = PluginSpec(
        name="alert_log",
        version="1.1.0",
        produces=("log",),
        description="logs each alert (alarm or manual inspection) at WARNING level",
    )

    def __init__(self) -> None:
        self.log = logging.getLogger("smartcustoms.alerts")

    @hookimpl
    def smartcustoms_alert(self, alert: results_pb2.Alert) -> None:
        decision = results_pb2.Decision.Name(alert.decision).removeprefix("DECISION_").lower()
        self.log.warning(
            "%s %s frame=%s conveyance=%s: %s",
            alert.alert_id,
            decision,
            alert.frame_id,
            alert.conveyance_id or "-",
            alert.summary,
        )
