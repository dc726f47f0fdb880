"""``smartcustoms dashboards``: write the Grafana and Prometheus provisioning bundle.

Until the command is registered in ``smartcustoms.runtime.cli``, run it as
``python -m smartcustoms.dashboards.cli [--config FILE] dashboards --out DIR``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smartcustoms.dashboards.bundle import DEFAULT_PROMETHEUS_URL, DEFAULT_SCRAPE_INTERVAL_S, write_bundle
from smartcustoms.dashboards.provisioning import ScrapeTargets
from smartcustoms.dashboards.rules import RuleSettings


def add_parser(commands: Any) -> argparse.ArgumentParser:  # argparse's subparsers action type is private
    """Register the ``dashboards`` subcommand on the ``smartcustoms`` command's subparsers."""
    sub: argparse.ArgumentParser = commands.add_parser(
        "dashboards",
        help="write Grafana dashboards, provisioning files and Prometheus rules",
        description="Write the provisioning bundle: Grafana data source and dashboard provider, the "
        "dashboards, Prometheus alerting rules and an example prometheus.yml. Targets and the control "
        "point default to the configuration (--config).",
    )
    sub.add_argument("--out", required=True, type=Path, help="directory to write the bundle into")
    sub.add_argument(
        "--prometheus-url", default=DEFAULT_PROMETHEUS_URL, help="Prometheus as Grafana reaches it"
    )
    sub.add_argument("--control-point", help="control point label for the scrape targets")
    sub.add_argument("--gateway", action="append", help="gateway /metrics host:port (repeatable)")
    sub.add_argument("--worker", action="append", help="worker /metrics host:port (repeatable)")
    sub.add_argument(
        "--scrape-interval-s",
        type=float,
        default=DEFAULT_SCRAPE_INTERVAL_S,
        help="Prometheus scrape interval",
    )
    sub.add_argument(
        "--latency-p99-bound-s",
        type=float,
        default=RuleSettings.latency_p99_bound_s,
        help="end-to-end p99 latency above which SmartcustomsLatencyHigh fires",
    )
    sub.add_argument(
        "--dashboards-path", help="where Grafana sees the dashboards/ folder (default: its absolute path)"
    )
    sub.set_defaults(handler=cmd_dashboards)
    return sub


def targets_from(args: argparse.Namespace) -> ScrapeTargets:
    """Scrape targets from the options, else from the configuration's host and metrics ports."""
    from smartcustoms.core import config as config_module

    config = config_module.load(getattr(args, "config", None))
    host = config.gateway.metrics_bind
    return ScrapeTargets(
        gateways=args.gateway or [f"{host}:{config.gateway.metrics_port}"],
        workers=args.worker or [f"{host}:{config.worker.metrics_port}"],
        control_point=config.control_point if args.control_point is None else args.control_point,
    )


def cmd_dashboards(args: argparse.Namespace) -> int:
    written = write_bundle(
        args.out,
        args.prometheus_url,
        targets=targets_from(args),
        rule_settings=RuleSettings(latency_p99_bound_s=args.latency_p99_bound_s),
        scrape_interval_s=args.scrape_interval_s,
        dashboards_path=args.dashboards_path,
    )
    for path in written:
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The same command line as ``smartcustoms [--config FILE] dashboards ...``, standalone."""
    top = argparse.ArgumentParser(prog="python -m smartcustoms.dashboards.cli")
    top.add_argument("--config", help="TOML (or JSON) configuration file")
    add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
