"""The ``smartcustoms`` command."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from smartcustoms.core import config as config_module
from smartcustoms.core.config import Config
from smartcustoms.runtime.readiness import PipelineError

if TYPE_CHECKING:
    from smartcustoms.v1 import results_pb2


def _load(args: argparse.Namespace) -> Config:
    return config_module.load(args.config)


def cmd_up(args: argparse.Namespace) -> int:
    from smartcustoms.runtime.officers import initial_password_note
    from smartcustoms.runtime.stack import Stack
    from smartcustoms.runtime.supervisor import GaveUpError, RestartPolicy, Supervisor, count_restart

    stop = threading.Event()
    _on_signals(lambda *_: stop.set())
    config = _load(args)
    with Stack(config) as stack:
        print(
            f"smartcustoms up: gRPC ingest at {stack.gateway_target}; alert review at {stack.review_url}; "
            f"metrics at "
            f"{', '.join(stack.metrics_urls)}; Ctrl-C stops",
            flush=True,
        )

        def restarted(role: str, took_s: float, count: int) -> None:
            count_restart(config.redis.url, config.namespace, role)
            print(
                f"smartcustoms up: {role} died and was restarted in {took_s:.1f} s (restart {count})",
                flush=True,
            )

        if note := initial_password_note(config.run_dir):
            print(f"smartcustoms up: {note}", flush=True)
        policy = RestartPolicy(**dataclasses.asdict(config.supervisor))
        try:
            Supervisor(stack, policy, on_restart=restarted).run(stop)
        except GaveUpError as error:
            print(f"smartcustoms up: {error}; stopping everything", file=sys.stderr, flush=True)
            return 1
        finally:
            print("stopping ...", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from smartcustoms.runtime.demo import demo

    _on_signals(_raise_interrupt)
    return demo(
        _load(args),
        args.duration_s,
        lanes=args.lanes,
        xray_rate_hz=args.xray_rate_hz,
        plaintext=args.plaintext,
    )


def cmd_plugins(args: argparse.Namespace) -> int:
    from smartcustoms.core.manager import discover_plugins
    from smartcustoms.runtime.worker import enabled_plugins

    config = _load(args)
    infos = discover_plugins(extra=config.extra_plugins)
    enabled = {info.spec.name for info in enabled_plugins(config, infos)}
    print(
        f"{'name':<16} {'version':<8} {'enabled':<8} {'mode':<7} {'consumes':<28} {'origin':<10} "
        f"{'style':<7} hooks"
    )
    for info in infos:
        consumes = ",".join(sorted(m.value for m in info.spec.consumes)) or "-"
        hooks = ", ".join(h.removeprefix("smartcustoms_") for h in info.hooks)
        is_enabled = "yes" if info.spec.name in enabled else "no"
        mode = config.plugin(info.spec.name).mode
        print(
            f"{info.spec.name:<16} {info.spec.version:<8} {is_enabled:<8} {mode:<7} {consumes:<28} "
            f"{info.origin:<10} {info.style:<7} {hooks}"
        )
        for name in info.spec.artefacts:
            print(f"{'':<16} reference data: {_artefact_line(config, name)}")
    return 0


def _artefact_line(config: Config, name: str) -> str:
    from smartcustoms.core import artefacts

    folder = artefacts.locate(name, "", config.artefacts_dir)
    try:
        found = artefacts.read(folder, expected_name=name, verify=False)
    except artefacts.ArtefactError as error:
        return f"{name}: MISSING ({error})"
    return f"{found.name} {found.version} sha256:{found.content_hash[:16]} at {folder} ({found.source})"


def _review_stub(config: Config) -> tuple[Any, Any]:
    from smartcustoms.runtime.tls import tools_channel
    from smartcustoms.v1 import review_pb2_grpc

    channel = tools_channel(config.gateway)
    return channel, review_pb2_grpc.ReviewServiceStub(channel)  # type: ignore[no-untyped-call]  # generated


def _officer() -> tuple[tuple[str, str], ...]:  # SMARTCUSTOMS_OFFICER_TOKEN (smartcustoms officers login)
    from smartcustoms.runtime.officer_auth import officer_metadata
    from smartcustoms.runtime.officers_cli import officer_token

    return officer_metadata(officer_token())


def cmd_alerts(args: argparse.Namespace) -> int:
    from smartcustoms.v1 import results_pb2, review_pb2

    channel, stub = _review_stub(_load(args))
    with channel:
        request = review_pb2.ListAlertsRequest(limit=args.limit)
        reply = stub.ListAlerts(request, timeout=10, metadata=_officer())
    for item in reply.items:
        decided = "open"
        if item.verdict.HasField("adjudication"):
            decision = item.verdict.adjudication
            outcome = results_pb2.AdjudicationOutcome.Name(decision.outcome).removeprefix(
                "ADJUDICATION_OUTCOME_"
            )
            decided = f"{outcome.lower()} by {decision.officer}"
        print(f"{item.alert.frame_id:<36} {decided:<28} {item.alert.summary}")
    return 0


def cmd_adjudicate(args: argparse.Namespace) -> int:
    import grpc

    from smartcustoms.runtime.review import OUTCOMES
    from smartcustoms.v1 import review_pb2

    try:
        record_outcomes = [record_outcome_arg(text) for text in args.record]
    except ValueError as error:
        print(f"smartcustoms adjudicate: {error}", file=sys.stderr)
        return 2
    channel, stub = _review_stub(_load(args))
    request = review_pb2.AdjudicateRequest(
        frame_id=args.frame_id,
        outcome=OUTCOMES[args.outcome],
        officer=args.officer,
        note=args.note,
        record_outcomes=record_outcomes,
    )
    with channel:
        try:
            decided = stub.Adjudicate(request, timeout=10, metadata=_officer())
        except grpc.RpcError as error:
            print(f"smartcustoms: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print(f"{args.frame_id}: {args.outcome} by {decided.adjudication.officer}")  # the one logged in
    return 0


def record_outcome_arg(text: str) -> results_pb2.RecordOutcome:
    """``RECORD_ID=hit[:REVENUE_HKD]`` or ``RECORD_ID=miss``: what inspecting one selected record found."""
    from smartcustoms.v1 import results_pb2

    record_id, _, found = text.rpartition("=")
    verdict, _, revenue = found.partition(":")
    if not record_id or verdict not in ("hit", "miss") or (revenue and verdict == "miss"):
        raise ValueError(f"--record {text!r}: expected RECORD_ID=hit[:REVENUE_HKD] or RECORD_ID=miss")
    try:
        amount = float(revenue) if revenue else 0.0
    except ValueError:
        raise ValueError(f"--record {text!r}: the revenue found must be a number of HKD") from None
    if not amount >= 0:
        raise ValueError(f"--record {text!r}: the revenue found must be a number of HKD >= 0")
    return results_pb2.RecordOutcome(record_id=record_id, hit=verdict == "hit", revenue_found_hkd=amount)


def cmd_gateway(args: argparse.Namespace) -> int:
    from smartcustoms.runtime import gateway_process

    gateway_process.main(_load(args))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from smartcustoms.runtime import worker

    worker.main(_load(args))
    return 0


def _on_signals(handler: object) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)  # type: ignore[arg-type]  # both handlers take (signum, frame)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# Modules that add subcommands of their own: each has ``add_parser(commands)``, which registers its
# subparsers with ``set_defaults(handler=...)``; a handler takes the parsed arguments, returns the exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "smartcustoms.dashboards.cli",
    "smartcustoms.hardware.sim.cli",
    "smartcustoms.hardware.adapters_cli",
    "smartcustoms.runtime.tdr_cli",
    "smartcustoms.hardware.sdk.cli",
    "smartcustoms.runtime.tools_cli",
    "smartcustoms.runtime.import_cli",
    "smartcustoms.runtime.feeds_cli",
    "smartcustoms.plugins.vehicle_risk.tools.watchlist_cli",
    "smartcustoms.runtime.search_cli",
    "smartcustoms.runtime.evidence_cli",
    "smartcustoms.plugins.cargo_risk.tools.outcomes_cli",
    "smartcustoms.runtime.conveyance_cli",
    "smartcustoms.runtime.duty_cli",
    "smartcustoms.runtime.air_queue_cli",
    "smartcustoms.runtime.enquiry_cli",
    "smartcustoms.runtime.audit_cli",
    "smartcustoms.runtime.officers_cli",
    "smartcustoms.runtime.certs_cli",
    "smartcustoms.runtime.devices_cli",
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="smartcustoms", description=__doc__)
    top.add_argument("--config", help="TOML (or JSON) configuration file; default: embedded everything")
    commands = top.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the runtime (embedded broker and Redis unless configured)")
    up.set_defaults(handler=cmd_up)
    demo = commands.add_parser("demo", help="start the runtime and simulated devices, then report")
    demo.add_argument("--duration-s", type=float, default=20.0, help="how long the devices stream")
    demo.add_argument("--lanes", type=int, default=2, help="simulated baggage X-ray lanes")
    demo.add_argument(
        "--xray-rate-hz",
        type=float,
        default=0.5,  # demo.XRAY_RATE_HZ (not imported here: the demo's imports are heavy)
        help="bags per second on each X-ray lane (0.5)",
    )
    demo.add_argument(
        "--plaintext",
        action="store_true",
        help="no TLS, no device certificates, no device registry (on by default: a local CA in the run dir)",
    )
    demo.set_defaults(handler=cmd_demo)
    listing = commands.add_parser("plugins", help="list plugins, versions, what they consume and their hooks")
    listing.set_defaults(handler=cmd_plugins)
    alerts = commands.add_parser("alerts", help="list recent alerts and officers' decisions on them")
    alerts.add_argument("--limit", type=int, default=50)
    alerts.set_defaults(handler=cmd_alerts)
    decide = commands.add_parser("adjudicate", help="confirm or clear an alert as the officer who checked it")
    decide.add_argument("frame_id")
    decide.add_argument("outcome", choices=["confirmed", "cleared"])
    decide.add_argument("--officer", required=True)
    decide.add_argument("--note", default="")
    decide.add_argument(
        "--record",
        action="append",
        default=[],
        metavar="RECORD_ID=hit[:HKD]|miss",
        help="for an alert on declarations: what inspecting one selected record found (repeatable); "
        "records not named take the outcome (confirmed: hit)",
    )
    decide.set_defaults(handler=cmd_adjudicate)
    commands.add_parser("gateway", help="run only the gRPC ingest gateway process").set_defaults(
        handler=cmd_gateway
    )
    commands.add_parser("worker", help="run only the stream worker process").set_defaults(handler=cmd_worker)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(commands)
    for sub in commands.choices.values():
        sub.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(args.handler(args))
    except config_module.ConfigError as error:
        print(f"smartcustoms: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    except PipelineError as error:  # a plugin could not be built: say which and why, in one line
        print(f"smartcustoms: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
