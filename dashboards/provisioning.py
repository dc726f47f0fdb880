"""Provisioning documents: Grafana's data source and dashboard provider, Prometheus' scrape config.

Grafana reads ``provisioning/datasources/*.yml`` and ``provisioning/dashboards/*.yml`` at start;
the dashboard provider points at the folder holding the dashboard JSON. The scrape configuration
is what the dashboards and rules expect of Prometheus: one job for gateways and one for workers,
named ``smartcustoms-*``, with the control point attached to every target as a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smartcustoms.dashboards.model import DATASOURCE_NAME, DATASOURCE_UID, TAG

FOLDER = "smartcustoms"
GATEWAY_JOB = "smartcustoms-gateway"
WORKER_JOB = "smartcustoms-worker"


def datasource_document(prometheus_url: str, scrape_interval_s: float) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": False,
                "editable": False,
                # Grafana's $__rate_interval is at least four times this: match the scrape interval
                "jsonData": {"timeInterval": f"{scrape_interval_s:g}s", "httpMethod": "POST"},
            }
        ],
    }


def dashboard_provider_document(dashboards_path: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": TAG,
                "orgId": 1,
                "folder": FOLDER,
                "folderUid": FOLDER,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,  # the JSON files are generated: change the code, not the UI
                "updateIntervalSeconds": 30,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }


@dataclass(frozen=True)
class ScrapeTargets:
    """Where the /metrics endpoints are (host:port), and the control point they serve."""

    gateways: Sequence[str] = ("127.0.0.1:9464",)
    workers: Sequence[str] = ("127.0.0.1:9465",)
    control_point: str = ""
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        found = {"control_point": self.control_point} if self.control_point else {}
        return {**found, **self.extra_labels}


def scrape_configs(targets: ScrapeTargets, scrape_interval_s: float | None = None) -> list[dict[str, Any]]:
    """The two smartcustoms jobs, for a prometheus.yml of one's own."""
    jobs = []
    for job, addresses in ((GATEWAY_JOB, targets.gateways), (WORKER_JOB, targets.workers)):
        static: dict[str, Any] = {"targets": list(addresses)}
        if targets.labels:
            static["labels"] = targets.labels
        config: dict[str, Any] = {"job_name": job}
        if scrape_interval_s is not None:
            config["scrape_interval"] = f"{scrape_interval_s:g}s"
        jobs.append({**config, "static_configs": [static]})
    return jobs


def prometheus_document(
    targets: ScrapeTargets,
    rule_files: Sequence[str],
    scrape_interval_s: float,
    evaluation_interval_s: float | None = None,
) -> dict[str, Any]:
    """A complete prometheus.yml scraping smartcustoms and loading its rules."""
    evaluation_s = scrape_interval_s if evaluation_interval_s is None else evaluation_interval_s
    return {
        "global": {
            "scrape_interval": f"{scrape_interval_s:g}s",
            "evaluation_interval": f"{evaluation_s:g}s",
        },
        "rule_files": list(rule_files),
        "scrape_configs": scrape_configs(targets),
    }
