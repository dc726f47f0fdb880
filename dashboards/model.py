"""Grafana dashboards as small typed values, rendered to dashboard JSON (schema version 39).

A dashboard is a title, template variables and panels; a panel is one or more PromQL queries.
Every query refers to the Prometheus data source through the ``$datasource`` variable, whose
default is the data source the provisioning file creates (uid ``smartcustoms-prometheus``), so the
same JSON works in any Grafana where a Prometheus data source scrapes smartcustoms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 39
TAG = "smartcustoms"
DATASOURCE_UID = "smartcustoms-prometheus"
DATASOURCE_NAME = "smartcustoms Prometheus"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_REF = {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}
RATE_INTERVAL = "$__rate_interval"  # Grafana's window for rate(): at least four scrape intervals
GRID_COLUMNS = 24
PANEL_HEIGHT = 8

# Units Grafana knows by id; "suffix:" appends a unit of our own.
FRAMES_PER_S = "suffix: frames/s"
PER_S = "suffix: /s"
SECONDS = "s"
BYTES_PER_S = "Bps"
BYTES = "bytes"
RATIO = "percentunit"
COUNT = "short"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel, with the legend Grafana draws for each of its series."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = COUNT
    kind: str = "timeseries"  # or "stat": the latest value, coloured by ``thresholds``
    width: int = 12
    thresholds: tuple[tuple[str, float | None], ...] = (("green", None),)  # (colour, from value)


@dataclass(frozen=True)
class Variable:
    """A template variable listing the values of ``label`` on ``metric`` ("All" matches any)."""

    name: str
    label: str
    metric: str

    @property
    def definition(self) -> str:
        return f"label_values({self.metric}, {self.name})"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"

    def queries(self) -> list[tuple[str, Query]]:
        """Every query with the title of its panel."""
        return [(panel.title, query) for panel in self.panels for query in panel.queries]


def expand(expr: str, values: Mapping[str, str]) -> str:
    """A panel query with Grafana's variables replaced, ready for Prometheus' own API.

    ``values`` maps variable names (``__rate_interval``, ``modality``, ...) to their text; an
    unknown variable raises, so a query never reaches Prometheus with a ``$`` left in it.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model (what "Export > JSON" shows), provisioned as a file."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": [TAG],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,  # shared crosshair: line panels up by time
        "timezone": "browser",
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {"list": [_builtin_annotations()]},
        "links": [
            {
                "title": "smartcustoms dashboards",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": [_datasource_variable(), *(_query_variable(v) for v in dashboard.variables)]},
        "panels": [
            _panel_json(panel, index + 1, pos) for index, (panel, pos) in enumerate(_layout(dashboard))
        ],
    }


def _layout(dashboard: Dashboard) -> list[tuple[Panel, dict[str, int]]]:
    """Left to right, wrapping at the grid's 24 columns."""
    placed = []
    x = y = 0
    for panel in dashboard.panels:
        if x + panel.width > GRID_COLUMNS:
            x, y = 0, y + PANEL_HEIGHT
        placed.append((panel, {"x": x, "y": y, "w": panel.width, "h": PANEL_HEIGHT}))
        x += panel.width
    return placed


def _panel_json(panel: Panel, panel_id: int, grid_pos: dict[str, int]) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE_REF,
        "gridPos": grid_pos,
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "color": {"mode": "thresholds" if panel.kind == "stat" else "palette-classic"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": color, "value": start} for color, start in panel.thresholds],
                },
            },
            "overrides": [],
        },
        "options": _stat_options() if panel.kind == "stat" else _timeseries_options(),
        "targets": [_target_json(query, chr(ord("A") + i)) for i, query in enumerate(panel.queries)],
    }


def _target_json(query: Query, ref_id: str) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "datasource": DATASOURCE_REF,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": True,
        "instant": False,
        "editorMode": "code",
    }


def _timeseries_options() -> dict[str, Any]:
    return {
        "legend": {
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
            "calcs": ["lastNotNull"],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _stat_options() -> dict[str, Any]:
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "area",
        "justifyMode": "auto",
        "textMode": "value_and_name",
        "orientation": "auto",
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": DATASOURCE_VARIABLE,
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": True, "text": DATASOURCE_NAME, "value": DATASOURCE_UID},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def _query_variable(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": DATASOURCE_REF,
        "definition": variable.definition,
        "query": {"query": variable.definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,  # on time range change: new sources and plugins appear without a reload
        "includeAll": True,
        "multi": True,
        "allValue": ".*",  # also matches series without the label (control_point may be unset)
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "options": [],
        "regex": "",
    }


def _builtin_annotations() -> dict[str, Any]:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
