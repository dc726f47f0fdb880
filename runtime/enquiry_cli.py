"""``smartcustoms ask QUESTION`` and ``smartcustoms report enquiries``.

``ask`` answers from the packaged knowledge base on this machine (nothing recorded), or, with
``--gateway``, through the running gateway's EnquiryService (the question becomes an ``enquiry`` record
on the stream). ``--json`` prints ``answer``, ``source``, ``confidence``, ``handed_over`` and details. A
bad question (empty, over-long, binary, in another language) exits 2 with one line saying why.

``report enquiries`` reads the ``enquiry`` plugin's counts in the runtime's Redis (``--config``) and
prints the week: questions and hand-overs by day, topics, languages, the unanswered and low-confidence
questions most asked, and the unanswered ones grouped into candidate new topics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from smartcustoms.plugins.enquiry.text import ANSWER_LANGUAGES


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ask = commands.add_parser(
        "ask", help="ask the enquiry assistant a question (English or Chinese)", description=__doc__
    )
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument(
        "--lang", choices=ANSWER_LANGUAGES, help="the answer's language (default: the question's)"
    )
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument(
        "--gateway",
        nargs="?",
        const="config",
        help="ask the running gateway (HOST:PORT; alone: the configured one), which records the question",
    )
    ask.set_defaults(handler=cmd_ask)
    report = commands.add_parser("report", help="reports from the runtime's analytics")
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    enquiries = kinds.add_parser(
        "enquiries", help="the enquiry assistant's week: topics, trends, unanswered questions"
    )
    enquiries.add_argument("--days", type=int, default=7, help="days up to --end (default 7)")
    enquiries.add_argument("--end", help="last day, YYYY-MM-DD (default today, UTC)")
    enquiries.add_argument("--top", type=int, default=10, help="questions and groups listed (default 10)")
    enquiries.add_argument("--json", action="store_true", help="print the report as JSON")
    enquiries.set_defaults(handler=cmd_report)


def cmd_ask(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.enquiry.text import QuestionError

    try:
        shown = _ask_gateway(args) if args.gateway else _ask_here(args)
    except QuestionError as error:
        print(f"smartcustoms ask: {error}", file=sys.stderr)
        return 2
    except ConnectionError as error:
        print(f"smartcustoms ask: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        print(shown["answer"])
        if shown["handed_over"]:
            print(f"(handed over to an officer; confidence {shown['confidence']:.2f})")
        else:
            print(f"(source: {shown['source']}; confidence {shown['confidence']:.2f})")
    return 0


def _ask_here(args: argparse.Namespace) -> dict[str, object]:
    from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant

    return EnquiryAssistant().ask(args.question, args.lang).as_json()


def _ask_gateway(args: argparse.Namespace) -> dict[str, object]:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from smartcustoms.core import config as config_module
    from smartcustoms.plugins.enquiry.text import QuestionError
    from smartcustoms.runtime.tls import tools_channel
    from smartcustoms.v1 import enquiry_pb2, enquiry_pb2_grpc

    target = args.gateway
    if target == "config":  # the configured gateway, over TLS when it serves TLS
        gateway = config_module.load(getattr(args, "config", None)).gateway
        target, channel = f"{gateway.host}:{gateway.port}", tools_channel(gateway)
    else:
        channel = grpc.insecure_channel(target)
    request = enquiry_pb2.AskRequest(question=args.question, language=args.lang or "", channel="cli")
    with channel:
        stub = enquiry_pb2_grpc.EnquiryServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
        try:
            response = stub.Ask(request, timeout=30)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise QuestionError(error.details()) from None
            raise ConnectionError(f"gateway {target}: {error.code().name} {error.details()}") from None
    shown: dict[str, object] = MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return shown


def cmd_report(args: argparse.Namespace) -> int:
    import redis

    from smartcustoms.core import config as config_module
    from smartcustoms.core.keys import plugin_state_prefix
    from smartcustoms.core.state import open_state
    from smartcustoms.plugins.enquiry import analytics
    from smartcustoms.plugins.enquiry.knowledge import load_knowledge
    from smartcustoms.plugins.enquiry.text import Analyser

    if args.days < 1 or args.top < 1:
        print("smartcustoms report enquiries: --days and --top must be 1 or more", file=sys.stderr)
        return 2
    try:
        end = dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date()
    except ValueError:
        print(f"smartcustoms report enquiries: --end must be YYYY-MM-DD, got {args.end!r}", file=sys.stderr)
        return 2
    knowledge = load_knowledge()
    analyser = Analyser(knowledge.lexicon)
    config = config_module.load(getattr(args, "config", None))
    state = open_state(config.redis.client_url, plugin_state_prefix(config.namespace, "enquiry"))
    try:
        report = analytics.build_report(
            state,
            knowledge.topics,
            analytics.week_days(end, args.days),
            lambda q: set(analyser.terms(q).words),
            top=args.top,
        )
    except redis.RedisError as error:
        print(f"smartcustoms report enquiries: Redis at {config.redis.client_url}: {error}", file=sys.stderr)
        return 1
    finally:
        state.close()
    print(
        json.dumps(report.as_json(), ensure_ascii=False, indent=2)
        if args.json
        else analytics.format_report(report)
    )
    return 0
