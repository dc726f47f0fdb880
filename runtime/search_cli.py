"""``smartcustoms search``: electronic vehicle search reports, over gRPC to the running gateway.

    smartcustoms search open RECORD_ID --plate-hk AB1234 [--plate-mainland P] [--control-point C]
                                       [--frame FRAME_ID ...] --officer NAME
    smartcustoms search check REPORT_ID ITEM [--note TEXT] [--uncheck] --officer NAME
    smartcustoms search findings REPORT_ID TEXT --officer NAME
    smartcustoms search add-goods REPORT_ID DESCRIPTION QUANTITY UNIT [--duty-hkd N] --officer NAME
    smartcustoms search close REPORT_ID {nothing_found,goods_seized,referred} [--note TEXT] --officer NAME
    smartcustoms search show REPORT_ID
    smartcustoms search list [--plate PLATE] [--limit N]

Bad input and refusals from the service come back as one line on stderr (exit 2 and 1). With the
gateway's officer login on, every command sends ``SMARTCUSTOMS_OFFICER_TOKEN`` (``export
SMARTCUSTOMS_OFFICER_TOKEN=$(smartcustoms officers login NAME)``) and the officer recorded is that
account, whatever ``--officer`` says.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf.timestamp_pb2 import Timestamp

    from smartcustoms.v1 import search_pb2

OUTCOME_CHOICES = ("nothing_found", "goods_seized", "referred")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    search = commands.add_parser("search", help="electronic vehicle search reports: open, fill, close, list")
    actions = search.add_subparsers(dest="action", required=True, metavar="ACTION")
    opening = actions.add_parser("open", help="open a search report for a crossing")
    opening.add_argument("record_id", help="the vehicle_crossing record searched")
    opening.add_argument("--plate-hk", required=True)
    opening.add_argument("--plate-mainland", default="")
    opening.add_argument("--control-point", default="")
    opening.add_argument(
        "--frame", action="append", default=[], metavar="FRAME_ID", help="camera or X-ray frame, by id"
    )
    check = actions.add_parser("check", help="tick (or untick) a checklist item, with a note")
    check.add_argument("report_id")
    check.add_argument("item", help="documents, occupants_luggage, cabin, boot, engine_bay, ... or your own")
    check.add_argument("--note", default="")
    check.add_argument("--uncheck", action="store_true", help="mark the item not searched")
    findings = actions.add_parser("findings", help="set the report's findings text")
    findings.add_argument("report_id")
    findings.add_argument("text")
    goods = actions.add_parser("add-goods", help="record seized goods")
    goods.add_argument("report_id")
    goods.add_argument("description")
    goods.add_argument("quantity", help="how many UNITs (positive)")
    goods.add_argument("unit", help="carton, bottle, litre, kg ...")
    goods.add_argument("--duty-hkd", default="0", help="estimated duty in HKD (default 0)")
    close = actions.add_parser("close", help="close the report with its outcome (feeds the plate's risk)")
    close.add_argument("report_id")
    close.add_argument("outcome", choices=OUTCOME_CHOICES)
    close.add_argument("--note", default="")
    for action in (opening, check, findings, goods, close):
        action.add_argument(
            "--officer",
            required=True,
            help="the officer doing it (with officer login: the account logged in)",
        )
    show = actions.add_parser("show", help="print one report")
    show.add_argument("report_id")
    listing = actions.add_parser("list", help="reports of a plate (either plate), newest first")
    listing.add_argument("--plate", default="", help="Hong Kong or mainland plate; default every plate")
    listing.add_argument("--limit", type=int, default=20)
    handlers: dict[str, Callable[[argparse.Namespace, Any], int]] = {
        "open": _open,
        "check": _check,
        "findings": _findings,
        "add-goods": _add_goods,
        "close": _close,
        "show": _show,
        "list": _list,
    }
    for name, action in actions.choices.items():
        action.set_defaults(handler=_calling(handlers[name]))


def _calling(handler: Callable[[argparse.Namespace, Any], int]) -> Callable[[argparse.Namespace], int]:
    """A command handler that gives ``handler`` a SearchService stub and turns errors into one line."""

    def run(args: argparse.Namespace) -> int:
        import grpc

        from smartcustoms.core import config as config_module
        from smartcustoms.runtime.officer_auth import OfficerStub
        from smartcustoms.runtime.officers_cli import officer_token
        from smartcustoms.runtime.tls import tools_channel
        from smartcustoms.v1 import search_pb2_grpc

        config = config_module.load(getattr(args, "config", None))
        try:
            with tools_channel(config.gateway) as channel:
                stub = search_pb2_grpc.SearchServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
                return handler(args, OfficerStub(stub, officer_token()))
        except BadInput as error:
            print(f"smartcustoms search: {error}", file=sys.stderr)
            return 2
        except grpc.RpcError as error:
            details = " ".join(str(error.details() or "").split())
            print(f"smartcustoms search: {error.code().name}: {details}", file=sys.stderr)
            return 1

    return run


class BadInput(ValueError):
    """An argument the command cannot use (said in one line, exit 2)."""


def _number(name: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise BadInput(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(number):
        raise BadInput(f"{name} must be a finite number, got {text!r}")
    return number


TIMEOUT_S = 10.0


def _open(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import search_pb2

    request = search_pb2.OpenReportRequest(
        record_id=args.record_id,
        plate_hk=args.plate_hk,
        plate_mainland=args.plate_mainland,
        control_point=args.control_point,
        frame_ids=args.frame,
        officer=args.officer,
    )
    report = stub.OpenReport(request, timeout=TIMEOUT_S)
    crossing = f"crossing {report.record_id} ({report.plate_hk})"
    print(f"{report.report_id}: opened for {crossing} by {report.opened_by}")
    return 0


def _update(stub: Any, request: search_pb2.UpdateReportRequest) -> search_pb2.SearchReport:
    return stub.UpdateReport(request, timeout=TIMEOUT_S)  # type: ignore[no-any-return]  # generated stub


def _check(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import search_pb2

    check = search_pb2.ChecklistItem(item=args.item, checked=not args.uncheck, note=args.note)
    report = _update(
        stub, search_pb2.UpdateReportRequest(report_id=args.report_id, officer=args.officer, checks=[check])
    )
    done = f"{sum(item.checked for item in report.checklist)}/{len(report.checklist)} done"
    print(f"{report.report_id}: {args.item} {'un' if args.uncheck else ''}checked ({done})")
    return 0


def _findings(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import search_pb2

    request = search_pb2.UpdateReportRequest(
        report_id=args.report_id, officer=args.officer, findings=args.text
    )
    report = _update(stub, request)
    print(f"{report.report_id}: findings saved")
    return 0


def _add_goods(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import search_pb2

    goods = search_pb2.SeizedGoods(
        description=args.description,
        quantity=_number("quantity", args.quantity),
        unit=args.unit,
        estimated_duty_hkd=_number("--duty-hkd", args.duty_hkd),
    )
    request = search_pb2.UpdateReportRequest(
        report_id=args.report_id, officer=args.officer, add_goods=[goods]
    )
    report = _update(stub, request)
    duty = f"duty HKD {report.seized_duty_hkd:,.2f}"
    print(f"{report.report_id}: {len(report.seized_goods)} goods recorded, {duty}")
    return 0


def _close(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.runtime.search import OUTCOMES, outcome_name
    from smartcustoms.v1 import search_pb2

    request = search_pb2.CloseReportRequest(
        report_id=args.report_id, outcome=OUTCOMES[args.outcome], officer=args.officer, note=args.note
    )
    report = stub.CloseReport(request, timeout=TIMEOUT_S)
    print(
        f"{report.report_id}: closed {outcome_name(report.outcome)} by {report.closed_by}; "
        f"added to the risk history of {report.plate_hk}"
    )
    return 0


def _show(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import search_pb2

    report = stub.GetReport(search_pb2.GetReportRequest(report_id=args.report_id), timeout=TIMEOUT_S)
    print("\n".join(describe(report)))
    return 0


def _list(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.runtime.search import outcome_name
    from smartcustoms.v1 import search_pb2

    if args.limit < 1:
        raise BadInput(f"--limit must be at least 1, got {args.limit}")
    request = search_pb2.ListReportsRequest(plate=args.plate, limit=args.limit)
    reports = stub.ListReports(request, timeout=TIMEOUT_S).reports
    for r in reports:
        print(
            f"{r.report_id:<16} {r.plate_hk:<10} {outcome_name(r.outcome):<14} {_when(r.opened_time):<17} "
            f"HKD {r.seized_duty_hkd:>12,.2f}  crossing {r.record_id}"
        )
    if not reports:
        print(f"no search reports{' for ' + args.plate if args.plate else ''}")
    return 0


def describe(report: search_pb2.SearchReport) -> list[str]:
    """A report as lines of text."""
    from smartcustoms.runtime.search import outcome_name

    lines = [
        f"report {report.report_id}: {outcome_name(report.outcome)}",
        f"  crossing {report.record_id}, plates {report.plate_hk} {report.plate_mainland}".rstrip(),
        f"  control point {report.control_point or '-'}; "
        f"opened {_when(report.opened_time)} by {report.opened_by}",
        f"  frames: {', '.join(report.frame_ids) or '-'}",
        "  checklist:",
    ]
    for item in report.checklist:
        mark = "x" if item.checked else " "
        note = f" ({item.note})" if item.note else ""
        lines.append(f"    [{mark}] {item.item:<20} {item.label}{note}")
    lines.append(f"  findings: {report.findings or '-'}")
    for goods in report.seized_goods:
        lines.append(
            f"  seized: {goods.quantity:g} {goods.unit} {goods.description}, duty HKD "
            f"{goods.estimated_duty_hkd:,.2f} ({goods.officer})"
        )
    if report.outcome:
        risk = "in the risk history" if report.risk_recorded else "NOT yet in the risk history"
        lines.append(
            f"  closed {_when(report.closed_time)} by {report.closed_by}: seized duty HKD "
            f"{report.seized_duty_hkd:,.2f}; {risk}{'; ' + report.close_note if report.close_note else ''}"
        )
    return lines


def _when(timestamp: Timestamp) -> str:
    return timestamp.ToDatetime(tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
