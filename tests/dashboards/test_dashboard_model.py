"""The dashboards and rules as code: every query names a real metric, every metric has a panel,
the JSON is a well-formed Grafana model, the YAML is what it claims, the command writes the bundle."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml  # PyYAML comes with Ray; used here only to read back what the bundle's own writer wrote
from prometheus_client import CollectorRegistry

from smartcustoms.core.metrics import COLLECTED_METRICS, Metrics
from smartcustoms.dashboards import _yaml, cli
from smartcustoms.dashboards.bundle import DASHBOARDS, write_bundle
from smartcustoms.dashboards.model import (
    DATASOURCE_REF,
    DATASOURCE_UID,
    GRID_COLUMNS,
    SCHEMA_VERSION,
    dashboard_json,
)
from smartcustoms.dashboards.risk import DEFAULT_BUDGETS
from smartcustoms.dashboards.rules import alert_rules, rules_document

CONSERVATION = {m.name: m.labels for m in COLLECTED_METRICS}  # read from Redis by the ledger's collectors
PROMETHEUS_OWN = {"up": ("job", "instance")}
SCRAPE_LABELS = {"control_point", "instance", "job"}  # attached by Prometheus, not by the metric


def declared_metrics() -> dict[str, tuple[str, ...]]:
    """Every series name core/metrics.py can export, with its label names."""
    metrics = Metrics(CollectorRegistry())
    names: dict[str, tuple[str, ...]] = {}
    for metric in vars(metrics).values():
        if not hasattr(metric, "describe"):
            continue
        (family,) = metric.describe()
        labels = tuple(metric._labelnames)  # prometheus_client keeps label names only privately
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
        for suffix in suffixes[family.type]:
            names[family.name + suffix] = (*labels, "le") if suffix == "_bucket" else labels
    return names


def all_queries() -> list[tuple[str, str]]:
    """(where, expr) for every panel query and every rule condition's signal and expression."""
    found = [(f"{d.uid} / {title}", q.expr) for d in DASHBOARDS for title, q in d.queries()]
    for rule in alert_rules():
        found += [(f"rule {rule.name}", c.signal) for c in rule.conditions]
        found.append((f"rule {rule.name} (expr)", rule.expr))
    return found


def test_every_query_uses_only_declared_metrics_and_their_labels() -> None:
    known = {**declared_metrics(), **CONSERVATION, **PROMETHEUS_OWN}
    problems = []
    for where, expr in all_queries():
        for name, matchers in re.findall(r"\b([a-z_]+)\{([^}]*)\}", expr):
            if name not in known:
                continue  # a function name before a selector cannot be followed by {
            allowed = {*known[name], *SCRAPE_LABELS}
            used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            problems += [f"{where}: {name} has no label {label!r}" for label in used - allowed]
        metrics = set(re.findall(r"\bsmartcustoms_\w+", expr)) | ({"up"} if "up{" in expr else set())
        problems += [f"{where}: unknown metric {name}" for name in metrics - set(known)]
    assert problems == []


def test_every_declared_metric_has_a_panel() -> None:
    shown = " ".join(q.expr for d in DASHBOARDS for _, q in d.queries())
    used = set(re.findall(r"\bsmartcustoms_\w+", shown))
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    declared = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in [*declared_metrics(), *CONSERVATION]}
    assert declared - families == set()


def test_dashboards_are_well_formed_grafana_models() -> None:
    uids = [d.uid for d in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for dashboard in DASHBOARDS:
        model = json.loads(json.dumps(dashboard_json(dashboard)))
        assert model["schemaVersion"] == SCHEMA_VERSION
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == DATASOURCE_UID
        ids = [p["id"] for p in model["panels"]]
        assert len(set(ids)) == len(ids)
        _assert_no_overlap(model["panels"])
        for panel in model["panels"]:
            assert panel["description"] and panel["datasource"] == DATASOURCE_REF
            assert [t["refId"] for t in panel["targets"]] == [
                chr(65 + i) for i in range(len(panel["targets"]))
            ]
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE_REF
                referenced = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
                assert referenced <= set(variables), (
                    f"{panel['title']}: undefined {referenced - set(variables)}"
                )


def _assert_no_overlap(panels: list[dict[str, object]]) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert isinstance(pos, dict) and pos["x"] + pos["w"] <= GRID_COLUMNS
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_the_risk_dashboard_names_the_budgets_the_plugins_ship() -> None:
    """The budget is configuration, not a metric: the panels' descriptions name the shipped defaults."""
    from smartcustoms.plugins.cargo_risk import CargoRiskPlugin
    from smartcustoms.plugins.vehicle_risk import VehicleRiskPlugin

    shipped = {
        plugin.spec.name: tuple(
            plugin.spec.default_settings[s] for s in ("inspect_share", "exploration_share")
        )
        for plugin in (CargoRiskPlugin, VehicleRiskPlugin)
    }
    assert shipped == DEFAULT_BUDGETS


def test_rules_have_severity_summary_and_description() -> None:
    rules = rules_document()["groups"][0]["rules"]
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names)
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert set(rule["annotations"]) == {"summary", "description"}


@pytest.mark.parametrize(
    "document",
    [
        {"a": "plain", "b": "needs: quoting", "c": "yes", "d": "1s", "e": [], "f": {}, "g": None},
        {"list": [{"k": 1, "nested": {"x": [1, 2.5, True]}}, "two", ["inner", "list"]]},
        {"multi": "first line\n  indented\nlast", "quote": 'say "hi"\\n', "unicode": "ö → ü"},
        rules_document(),
    ],
)
def test_yaml_writer_round_trips(document: dict[str, object]) -> None:
    assert yaml.safe_load(_yaml.dump(document)) == json.loads(json.dumps(document))


def test_command_writes_the_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    top = argparse.ArgumentParser(prog="smartcustoms")
    cli.add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(
        [
            "dashboards",
            "--out",
            str(tmp_path),
            "--prometheus-url",
            "http://prom:9090",
            "--control-point",
            "lmc",
        ]
    )
    assert args.handler(args) == 0
    written = {Path(line) for line in capsys.readouterr().out.split()}
    relative = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert relative == sorted(
        [
            "provisioning/datasources/smartcustoms.yml",
            "provisioning/dashboards/smartcustoms.yml",
            *(f"dashboards/{d.file_name}" for d in DASHBOARDS),
            "prometheus/smartcustoms.rules.yml",
            "prometheus/prometheus.yml",
        ]
    )
    datasource = yaml.safe_load((tmp_path / "provisioning/datasources/smartcustoms.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prom:9090"
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/smartcustoms.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == str((tmp_path / "dashboards").absolute())
    scrape = yaml.safe_load((tmp_path / "prometheus/prometheus.yml").read_text())
    assert [job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]] == [
        ["127.0.0.1:9464"],
        ["127.0.0.1:9465"],
    ]
    assert scrape["scrape_configs"][0]["static_configs"][0]["labels"] == {"control_point": "lmc"}


def test_bundle_is_the_same_every_time(tmp_path: Path) -> None:
    first = {
        p.relative_to(tmp_path / "a"): p.read_bytes()
        for p in write_bundle(tmp_path / "a", dashboards_path="/d")
    }
    second = {
        p.relative_to(tmp_path / "b"): p.read_bytes()
        for p in write_bundle(tmp_path / "b", dashboards_path="/d")
    }
    assert first == second
