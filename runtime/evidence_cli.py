"""``smartcustoms evidence``: seized items in the evidence store, over gRPC to the running gateway.

    smartcustoms evidence register --case N --description TEXT --officer NAME
                                   (--epc HEX | --company-prefix P --item-reference R --serial S)
                                   [--slot vault-b/07] [--size UNITS] [--due YYYY-MM-DD]
    smartcustoms evidence order ACTION EPC --officer NAME [--officer NAME] --reason TEXT
                                [--to-zone Z] [--purpose court|lab] [--order-id ID]
    smartcustoms evidence locate (--epc HEX | --case N | --zone Z)
    smartcustoms evidence stocktake [--zone Z] [--case N]
    smartcustoms evidence suggest-slot --case N [--size UNITS] [--due YYYY-MM-DD]

``register`` prints the EPC hex for the tag writer. Bad input and refusals come back as one line on
stderr (exit 2 and 1). With the gateway's officer login on, every command sends
``SMARTCUSTOMS_OFFICER_TOKEN`` (``smartcustoms officers login``): the seizing officer recorded is that
account, and an order's first ``--officer`` is that account (the second is attested by it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

ACTIONS = ("deposit", "transfer", "retrieval", "return", "disposal")
TIMEOUT_S = 10.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evidence = commands.add_parser("evidence", help="seized items: register, work orders, locate, stock-take")
    actions = evidence.add_subparsers(dest="action", required=True, metavar="ACTION")
    register = actions.add_parser("register", help="register a seized item (prints the EPC to write)")
    register.add_argument("--case", required=True)
    register.add_argument("--description", required=True)
    register.add_argument(
        "--officer", required=True, help="the seizing officer (with officer login: the account logged in)"
    )
    register.add_argument("--epc", default="", help="the tag's EPC, 24 hex digits")
    register.add_argument("--company-prefix", default="", help="to encode an SGTIN-96: GS1 company prefix")
    register.add_argument("--item-reference", default="")
    register.add_argument("--serial", type=_whole, default=0)
    register.add_argument("--slot", default="")
    register.add_argument("--size", type=_whole, default=1, help="slot units it takes (default 1)")
    register.add_argument("--due", default="", help="expected retrieval date, YYYY-MM-DD")
    order = actions.add_parser("order", help="apply a work order (two officers for retrieval and disposal)")
    order.add_argument("order_action", choices=ACTIONS, metavar="ACTION", help=", ".join(ACTIONS))
    order.add_argument("epc")
    order.add_argument(
        "--officer",
        action="append",
        default=[],
        required=True,
        help="the officer doing it, then the second officer of a retrieval or disposal (with officer"
        " login the first is the account logged in)",
    )
    order.add_argument("--reason", required=True)
    order.add_argument("--to-zone", default="")
    order.add_argument("--purpose", default="", choices=("", "court", "lab"))
    order.add_argument("--order-id", default="")
    locate = actions.add_parser("locate", help="where items are: by EPC, case or zone")
    by = locate.add_mutually_exclusive_group(required=True)
    by.add_argument("--epc")
    by.add_argument("--case")
    by.add_argument("--zone")
    stock = actions.add_parser("stocktake", help="expected against read, per zone")
    stock.add_argument("--zone", default="")
    stock.add_argument("--case", default="")
    suggest = actions.add_parser("suggest-slot", help="a storage slot for a new deposit")
    suggest.add_argument("--case", required=True)
    suggest.add_argument("--size", type=_whole, default=1)
    suggest.add_argument("--due", default="")
    handlers: dict[str, Callable[[argparse.Namespace, Any], int]] = {
        "register": _register,
        "order": _order,
        "locate": _locate,
        "stocktake": _stocktake,
        "suggest-slot": _suggest,
    }
    for name, action in actions.choices.items():
        action.set_defaults(handler=_calling(handlers[name]))


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _calling(handler: Callable[[argparse.Namespace, Any], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import grpc

        from smartcustoms.core import config as config_module
        from smartcustoms.runtime.officer_auth import OfficerStub
        from smartcustoms.runtime.officers_cli import officer_token
        from smartcustoms.runtime.tls import tools_channel
        from smartcustoms.v1 import evidence_pb2_grpc

        config = config_module.load(getattr(args, "config", None))
        try:
            with tools_channel(config.gateway) as channel:
                stub = evidence_pb2_grpc.EvidenceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
                return handler(args, OfficerStub(stub, officer_token()))
        except grpc.RpcError as error:
            details = " ".join(str(error.details() or "").split())
            print(f"smartcustoms evidence: {error.code().name}: {details}", file=sys.stderr)
            return 1

    return run


def _register(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import evidence_pb2

    request = evidence_pb2.RegisterItemRequest(
        epc_hex=args.epc,
        company_prefix=args.company_prefix,
        item_reference=args.item_reference,
        serial=args.serial,
        case_number=args.case,
        description=args.description,
        seizing_officer=args.officer,
        slot=args.slot,
        size=args.size,
        retrieval_due=args.due,
    )
    item = stub.RegisterItem(request, timeout=TIMEOUT_S)
    print(f"registered {item.epc_hex}  {item.uri}  case {item.case_number}")
    print(f"write to tag: {item.epc_hex}")
    return 0


def _order(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import evidence_pb2

    request = evidence_pb2.WorkOrder(
        order_id=args.order_id,
        action=args.order_action,
        epc_hex=args.epc,
        officers=args.officer,
        reason=args.reason,
        to_zone=args.to_zone,
        purpose=args.purpose,
    )
    item = stub.SubmitOrder(request, timeout=TIMEOUT_S)
    print(
        f"{args.order_action} applied: {item.epc_hex} is {item.status}, "
        f"expected in {item.expected_zone or '-'}"
    )
    return 0


def _locate(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import evidence_pb2

    if args.epc:
        request = evidence_pb2.LocateRequest(epc_hex=args.epc)
    elif args.case:
        request = evidence_pb2.LocateRequest(case_number=args.case)
    else:
        request = evidence_pb2.LocateRequest(zone=args.zone)
    reply = stub.Locate(request, timeout=TIMEOUT_S)
    print(f"{'EPC':<24}  {'case':<12} {'status':<10} {'expected':<9} {'located':<9} last read (UTC)")
    for item in reply.items:
        read = _time(item.last_read_s)
        print(
            f"{item.epc_hex:<24}  {item.case_number:<12} {item.status:<10} {item.expected_zone or '-':<9} "
            f"{item.located_zone or '-':<9} {read}"
        )
    print(f"{len(reply.items)} item(s)")
    return 0


def _stocktake(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import evidence_pb2

    report = stub.StockTake(
        evidence_pb2.StockTakeRequest(zone=args.zone, case_number=args.case), timeout=TIMEOUT_S
    )
    print(f"{'zone':<10} {'expected':>8} {'read':>6} {'missing':>8} {'unexpected':>10}")
    for line in report.zones:
        print(
            f"{line.zone:<10} {line.expected:>8} {line.read:>6} "
            f"{len(line.missing):>8} {len(line.unexpected):>10}"
        )
    for line in report.zones:
        for epc in line.missing:
            print(f"missing    {line.zone:<10} {epc}")
        for epc in line.unexpected:
            print(f"unexpected {line.zone:<10} {epc}")
    print(f"undecodable tag reads so far: {report.undecodable_reads}")
    return 0


def _suggest(args: argparse.Namespace, stub: Any) -> int:
    from smartcustoms.v1 import evidence_pb2

    request = evidence_pb2.SuggestSlotRequest(case_number=args.case, size=args.size, retrieval_due=args.due)
    suggestion = stub.SuggestSlot(request, timeout=TIMEOUT_S)
    print(f"{suggestion.slot}: {suggestion.reason}")
    return 0


def _time(seconds: float) -> str:
    if not seconds:
        return "never"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
