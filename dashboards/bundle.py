"""The provisioning bundle for a user's Grafana and Prometheus, written from code.

Layout under ``out_dir``::

    provisioning/datasources/smartcustoms.yml   Grafana: the Prometheus data source
    provisioning/dashboards/smartcustoms.yml    Grafana: a file provider for dashboards/
    dashboards/smartcustoms-*.json              Grafana: the dashboards
    prometheus/smartcustoms.rules.yml           Prometheus: alerting rules (rule_files)
    prometheus/prometheus.yml                   Prometheus: an example config scraping smartcustoms

Nothing generated is committed: this code is the single source, and the tests check what it writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from smartcustoms.dashboards import _yaml
from smartcustoms.dashboards.air_queue import AIR_QUEUE
from smartcustoms.dashboards.audit import AUDIT
from smartcustoms.dashboards.checkpoints import CHECKPOINTS
from smartcustoms.dashboards.conveyances import CONVEYANCES
from smartcustoms.dashboards.detection import DETECTION
from smartcustoms.dashboards.enquiry import ENQUIRY
from smartcustoms.dashboards.evidence import EVIDENCE
from smartcustoms.dashboards.intelligence import INTELLIGENCE
from smartcustoms.dashboards.model import Dashboard, dashboard_json
from smartcustoms.dashboards.overview import OVERVIEW
from smartcustoms.dashboards.provisioning import (
    ScrapeTargets,
    dashboard_provider_document,
    datasource_document,
    prometheus_document,
)
from smartcustoms.dashboards.risk import RISK
from smartcustoms.dashboards.rules import RuleSettings, rules_document
from smartcustoms.dashboards.screening import SCREENING

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, *CHECKPOINTS, DETECTION, RISK, CONVEYANCES, AUDIT, ENQUIRY)
DASHBOARDS = (*DASHBOARDS, AIR_QUEUE, SCREENING)
DASHBOARDS = (*DASHBOARDS, EVIDENCE, INTELLIGENCE)
RULES_FILE = "smartcustoms.rules.yml"
DEFAULT_PROMETHEUS_URL = "http://localhost:9090"
DEFAULT_SCRAPE_INTERVAL_S = 15.0


def write_bundle(
    out_dir: Path,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
    *,
    targets: ScrapeTargets | None = None,
    rule_settings: RuleSettings | None = None,
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
    dashboards_path: str | None = None,
) -> list[Path]:
    """Write the bundle; return the files written.

    ``dashboards_path`` is where Grafana will find the dashboard JSON (default: this bundle's
    ``dashboards/`` folder, absolute); set it when Grafana sees the bundle under another path, as
    in a container.
    """
    out_dir = Path(out_dir)
    dashboards_dir = out_dir / "dashboards"
    provider_path = dashboards_path or str(dashboards_dir.absolute())
    files = {
        out_dir / "provisioning" / "datasources" / "smartcustoms.yml": _yaml.dump(
            datasource_document(prometheus_url, scrape_interval_s)
        ),
        out_dir / "provisioning" / "dashboards" / "smartcustoms.yml": _yaml.dump(
            dashboard_provider_document(provider_path)
        ),
        **{dashboards_dir / d.file_name: json.dumps(dashboard_json(d), indent=2) + "\n" for d in DASHBOARDS},
        out_dir / "prometheus" / RULES_FILE: _yaml.dump(rules_document(rule_settings)),
        out_dir / "prometheus" / "prometheus.yml": _yaml.dump(
            prometheus_document(targets or ScrapeTargets(), [RULES_FILE], scrape_interval_s)
        ),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
