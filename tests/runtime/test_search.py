"""Vehicle search reports: the rules a report follows, the desk on a real Redis (one report per
crossing, plate index, atomic changes, the outcome in the vehicle_risk plugin's state) and the gRPC
statuses of the SearchService."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.state import RedisState, open_state
from smartcustoms.runtime.officer_auth import GrpcGate, officer_metadata
from smartcustoms.runtime.officers import OfficerStore
from smartcustoms.runtime.process import free_port
from smartcustoms.runtime.search import (
    CHECKLIST,
    RISK_WINDOW_S,
    ReportExists,
    ReportNotFound,
    ReportStateError,
    RiskNotRecorded,
    SearchDesk,
    SearchServicer,
    apply_close,
    apply_update,
    new_report,
    risk_events,
    search_desk,
)
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.testing import grpc_code
from smartcustoms.v1 import search_pb2, search_pb2_grpc

T0_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SEIZED = search_pb2.SEARCH_OUTCOME_GOODS_SEIZED
NOTHING = search_pb2.SEARCH_OUTCOME_NOTHING_FOUND


def _opening(
    record_id: str = "vc-7-0-1", plate_hk: str = "ab 1234", **fields: object
) -> search_pb2.OpenReportRequest:
    values = {"plate_mainland": "粤Z AB12港", "officer": "PO 4411", "control_point": "lok-ma-chau"} | fields
    return search_pb2.OpenReportRequest(record_id=record_id, plate_hk=plate_hk, **values)


def _goods(quantity: float = 20, duty_hkd: float = 6_000.0) -> search_pb2.SeizedGoods:
    return search_pb2.SeizedGoods(
        description="cigarettes", quantity=quantity, unit="carton", estimated_duty_hkd=duty_hkd
    )


# ---------------------------------------------------------------- the rules, without Redis


def test_a_report_opens_with_the_standard_checklist_and_plates_as_crossings_write_them() -> None:
    report = new_report(_opening(frame_ids=["cam-1", " cam-1 ", "xr-9", ""]), "sr-1", T0_S)
    assert (report.plate_hk, report.plate_mainland) == ("AB1234", "粤ZAB12港")
    assert [i.item for i in report.checklist] == [item for item, _ in CHECKLIST]
    assert not any(i.checked for i in report.checklist)
    assert list(report.frame_ids) == ["cam-1", "xr-9"]
    assert report.opened_time.ToNanoseconds() == T0_S * 1e9
    assert report.outcome == search_pb2.SEARCH_OUTCOME_UNSPECIFIED


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_opening(officer=" "), "officer"),
        (_opening(plate_hk="  "), "plate"),
        (_opening(record_id=""), "record id"),
        (_opening(plate_hk="AB\x001"), "control characters"),
    ],
)
def test_opening_needs_an_officer_a_plate_and_a_crossing(
    request_: search_pb2.OpenReportRequest, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        new_report(request_, "sr-1", T0_S)


def test_updates_tick_items_add_goods_and_sum_their_duty() -> None:
    report = new_report(_opening(), "sr-1", T0_S)
    update = search_pb2.UpdateReportRequest(
        officer="PO 7",
        checks=[
            search_pb2.ChecklistItem(item="boot", checked=True, note="false floor"),
            search_pb2.ChecklistItem(item="roof_box", label="Roof box", checked=True),
        ],
        findings="cartons under the boot floor",
        add_goods=[_goods(20, 6_000.0), _goods(1.5, 250.25)],
        add_frame_ids=["xr-9"],
    )
    apply_update(report, update, T0_S + 60)
    boot = next(i for i in report.checklist if i.item == "boot")
    assert (boot.checked, boot.note, boot.officer) == (True, "false floor", "PO 7")
    assert report.checklist[-1].label == "Roof box"
    assert report.findings == "cartons under the boot floor"
    assert [g.officer for g in report.seized_goods] == ["PO 7", "PO 7"]
    assert report.seized_duty_hkd == 6_250.25


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (search_pb2.UpdateReportRequest(officer="", findings="x"), "officer"),
        (search_pb2.UpdateReportRequest(officer="PO 7", add_goods=[_goods(quantity=-3)]), "positive"),
        (search_pb2.UpdateReportRequest(officer="PO 7", add_goods=[_goods(quantity=math.nan)]), "positive"),
        (search_pb2.UpdateReportRequest(officer="PO 7", add_goods=[_goods(duty_hkd=-1)]), "duty"),
        (
            search_pb2.UpdateReportRequest(
                officer="PO 7", add_goods=[search_pb2.SeizedGoods(description="rum", quantity=2)]
            ),
            "unit",
        ),
        (search_pb2.UpdateReportRequest(officer="PO 7", checks=[search_pb2.ChecklistItem(item=" ")]), "id"),
    ],
)
def test_a_bad_update_is_refused_and_changes_nothing(
    update: search_pb2.UpdateReportRequest, message: str
) -> None:
    report = new_report(_opening(), "sr-1", T0_S)
    before = report.SerializeToString()
    update.checks.add(item="boot", checked=True)  # valid in itself: must not be applied either
    with pytest.raises(ValueError, match=message):
        apply_update(report, update, T0_S)
    assert report.SerializeToString() == before


def test_an_empty_update_is_refused() -> None:
    with pytest.raises(ValueError, match="changes nothing"):
        apply_update(
            new_report(_opening(), "sr-1", T0_S), search_pb2.UpdateReportRequest(officer="PO 7"), T0_S
        )


def test_the_outcome_must_agree_with_the_goods_and_a_closed_report_stays_as_it_is() -> None:
    report = new_report(_opening(), "sr-1", T0_S)
    with pytest.raises(ReportStateError, match="no seized goods"):
        apply_close(report, search_pb2.CloseReportRequest(outcome=SEIZED, officer="PO 7"), T0_S)
    with pytest.raises(ValueError, match="outcome"):
        apply_close(report, search_pb2.CloseReportRequest(officer="PO 7"), T0_S)
    apply_update(report, search_pb2.UpdateReportRequest(officer="PO 7", add_goods=[_goods()]), T0_S)
    with pytest.raises(ReportStateError, match="nothing_found"):
        apply_close(report, search_pb2.CloseReportRequest(outcome=NOTHING, officer="PO 7"), T0_S)
    apply_close(
        report, search_pb2.CloseReportRequest(outcome=SEIZED, officer="SPO 2", note="to D&I"), T0_S + 600
    )
    assert (report.closed_by, report.close_note) == ("SPO 2", "to D&I")
    for change in (
        lambda: apply_update(report, search_pb2.UpdateReportRequest(officer="PO 7", findings="more"), T0_S),
        lambda: apply_close(report, search_pb2.CloseReportRequest(outcome=SEIZED, officer="PO 7"), T0_S),
    ):
        with pytest.raises(ReportStateError, match="was closed"):
            change()


def test_risk_events_count_a_search_and_value_a_seizure_at_its_duty() -> None:
    report = new_report(_opening(), "sr-1", T0_S)
    apply_close(report, search_pb2.CloseReportRequest(outcome=NOTHING, officer="PO 7"), T0_S + 600)
    assert risk_events(report) == [("searches:AB1234", "sr-1", T0_S + 600, 1.0)]
    seized = new_report(_opening(), "sr-2", T0_S)
    apply_update(seized, search_pb2.UpdateReportRequest(officer="PO 7", add_goods=[_goods()]), T0_S)
    apply_close(seized, search_pb2.CloseReportRequest(outcome=SEIZED, officer="PO 7"), T0_S + 900)
    assert risk_events(seized) == [
        ("searches:AB1234", "sr-2", T0_S + 900, 1.0),
        ("seizures:AB1234", "sr-2", T0_S + 900, 6_000.0),
    ]


# ---------------------------------------------------------------- the desk on a real Redis


class Clock:
    def __init__(self) -> None:
        self.now_s = T0_S

    def __call__(self) -> float:
        self.now_s += 60.0
        return self.now_s


def _run(redis_url: str, body: Callable[[SearchDesk, RedisState], Awaitable[None]]) -> None:
    """``body`` on a desk of a fresh namespace, with the vehicle_risk state it writes to."""
    namespace = f"s{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        risk = open_state(redis_url, plugin_state_prefix(namespace, "vehicle_risk"))
        desk = SearchDesk(client, namespace, risk, clock=Clock())
        try:
            await body(desk, risk)
        finally:
            desk.close_state()
            await client.aclose()

    asyncio.run(main())


@pytest.mark.integration
def test_one_report_per_crossing_listed_by_either_plate_newest_first(redis_service: EmbeddedRedis) -> None:
    async def body(desk: SearchDesk, risk: RedisState) -> None:
        first = await desk.open(_opening("vc-1"))
        with pytest.raises(ReportExists, match=first.report_id):
            await desk.open(_opening("vc-1", plate_hk="ZZ9", officer="PO 8"))
        second = await desk.open(_opening("vc-2"))
        other = await desk.open(_opening("vc-3", plate_hk="CD 55", plate_mainland=""))
        newest_first = [second.report_id, first.report_id]
        assert [r.report_id for r in await desk.reports("AB1234", 0)] == newest_first
        assert [r.report_id for r in await desk.reports("粤z ab12港", 0)] == newest_first
        assert [r.report_id for r in await desk.reports("ab 1234", 1)] == [second.report_id]
        assert [r.report_id for r in await desk.reports("", 0)] == [other.report_id, *newest_first]
        assert await desk.reports("NO1", 0) == []
        assert await desk.get(first.report_id) == first
        assert await desk.report_for_crossings(["vc-1", "vc-9"]) == [first.report_id, None]
        with pytest.raises(ReportNotFound):
            await desk.get("sr-none")

    _run(redis_service.url, body)


@pytest.mark.integration
def test_closing_writes_the_outcome_where_vehicle_risk_reads_it(redis_service: EmbeddedRedis) -> None:
    async def body(desk: SearchDesk, risk: RedisState) -> None:
        searched = await desk.open(_opening("vc-1"))
        await desk.close(
            search_pb2.CloseReportRequest(report_id=searched.report_id, outcome=NOTHING, officer="a")
        )
        seized = await desk.open(_opening("vc-2"))
        update = search_pb2.UpdateReportRequest(report_id=seized.report_id, officer="a", add_goods=[_goods()])
        await desk.update(update)
        closed = await desk.close(
            search_pb2.CloseReportRequest(report_id=seized.report_id, outcome=SEIZED, officer="b")
        )
        assert closed.risk_recorded and (await desk.get(seized.report_id)).risk_recorded
        as_of_s = closed.closed_time.ToNanoseconds() / 1e9 + 1
        assert risk.window_count("searches:AB1234", window_s=RISK_WINDOW_S, as_of_s=as_of_s) == 2
        assert risk.window_count("seizures:AB1234", window_s=RISK_WINDOW_S, as_of_s=as_of_s) == 1
        assert risk.window_sum("seizures:AB1234", window_s=RISK_WINDOW_S, as_of_s=as_of_s) == 6_000.0
        with pytest.raises(ReportStateError, match="was closed"):
            await desk.update(update)
        with pytest.raises(ReportStateError, match="was closed"):
            await desk.close(
                search_pb2.CloseReportRequest(report_id=seized.report_id, outcome=SEIZED, officer="b")
            )

    _run(redis_service.url, body)


@pytest.mark.integration
def test_concurrent_updates_all_land(redis_service: EmbeddedRedis) -> None:
    async def body(desk: SearchDesk, risk: RedisState) -> None:
        report = await desk.open(_opening())

        def adding(n: int) -> search_pb2.UpdateReportRequest:
            goods = _goods(quantity=n + 1, duty_hkd=100.0)
            return search_pb2.UpdateReportRequest(
                report_id=report.report_id, officer=f"PO {n}", add_goods=[goods]
            )

        await asyncio.gather(*(desk.update(adding(n)) for n in range(12)))
        stored = await desk.get(report.report_id)
        assert sorted(g.quantity for g in stored.seized_goods) == list(range(1, 13))
        assert stored.seized_duty_hkd == 1_200.0

    _run(redis_service.url, body)


@pytest.mark.integration
def test_a_close_whose_risk_write_failed_says_so_and_closing_again_retries_it(
    redis_service: EmbeddedRedis,
) -> None:
    namespace = f"s{uuid.uuid4().hex[:8]}"
    prefix = plugin_state_prefix(namespace, "vehicle_risk")

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        nowhere = redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
        unreachable = RedisState(nowhere, prefix)  # nothing listens there: every write fails
        try:
            report = await SearchDesk(client, namespace, unreachable).open(_opening())
            close = search_pb2.CloseReportRequest(report_id=report.report_id, outcome=NOTHING, officer="a")
            with pytest.raises(RiskNotRecorded, match="close it again"):
                await SearchDesk(client, namespace, unreachable).close(close)
            stored = await SearchDesk(client, namespace, unreachable).get(report.report_id)
            assert stored.outcome == NOTHING and not stored.risk_recorded
            desk = search_desk(redis_service.url, namespace, client)  # Redis is back
            with pytest.raises(ReportStateError):  # not a retry: another outcome
                await desk.close(
                    search_pb2.CloseReportRequest(report_id=report.report_id, outcome=3, officer="a")
                )
            retried = await desk.close(close)
            assert retried.risk_recorded and retried.closed_time == stored.closed_time
            closed_at_s = stored.closed_time.ToNanoseconds() / 1e9
            count = desk.risk_state.window_count(
                "searches:AB1234", window_s=RISK_WINDOW_S, as_of_s=closed_at_s + 1
            )
            assert count == 1
            with pytest.raises(ReportStateError):  # recorded now: closing again is refused
                await desk.close(close)
            desk.close_state()
        finally:
            unreachable.close()
            await client.aclose()

    asyncio.run(main())


# ---------------------------------------------------------------- gRPC statuses


@pytest.mark.integration
def test_search_service_statuses(redis_service: EmbeddedRedis) -> None:
    namespace = f"s{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        desk = search_desk(redis_service.url, namespace, client)
        server = grpc.aio.server()
        search_pb2_grpc.add_SearchServiceServicer_to_server(SearchServicer(desk), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await _statuses(search_pb2_grpc.SearchServiceStub(channel))
        finally:
            await server.stop(1)
            desk.close_state()
            await client.aclose()

    asyncio.run(main())


async def _statuses(stub: search_pb2_grpc.SearchServiceStub) -> None:
    report = await stub.OpenReport(_opening("vc-1"), timeout=5)
    rid = report.report_id
    update = search_pb2.UpdateReportRequest
    close = search_pb2.CloseReportRequest
    cases: list[tuple[Callable[[], Awaitable[object]], str]] = [
        (lambda: stub.OpenReport(_opening("vc-1"), timeout=5), "ALREADY_EXISTS"),
        (lambda: stub.OpenReport(_opening("vc-2", officer=""), timeout=5), "INVALID_ARGUMENT"),
        (lambda: stub.OpenReport(_opening("vc-2", plate_hk=""), timeout=5), "INVALID_ARGUMENT"),
        (lambda: stub.GetReport(search_pb2.GetReportRequest(report_id="sr-none"), timeout=5), "NOT_FOUND"),
        (
            lambda: stub.UpdateReport(update(report_id="sr-none", officer="a", findings="x"), timeout=5),
            "NOT_FOUND",
        ),
        (lambda: stub.UpdateReport(update(report_id=rid, findings="x"), timeout=5), "INVALID_ARGUMENT"),
        (
            lambda: stub.UpdateReport(update(report_id=rid, officer="a", add_goods=[_goods(-1)]), timeout=5),
            "INVALID_ARGUMENT",
        ),
        (
            lambda: stub.CloseReport(close(report_id=rid, outcome=SEIZED, officer="a"), timeout=5),
            "FAILED_PRECONDITION",
        ),
        (
            lambda: stub.CloseReport(close(report_id=rid, outcome=7, officer="a"), timeout=5),
            "INVALID_ARGUMENT",
        ),
    ]
    for call, expected in cases:
        assert await grpc_code(call()) == expected, expected
    goods = update(report_id=rid, officer="a", add_goods=[_goods()])
    assert await grpc_code(stub.UpdateReport(goods, timeout=5)) == "OK"
    closed = await stub.CloseReport(close(report_id=rid, outcome=SEIZED, officer="a"), timeout=5)
    assert (closed.outcome, closed.seized_duty_hkd, closed.risk_recorded) == (SEIZED, 6_000.0, True)
    late = update(report_id=rid, officer="a", findings="late")
    assert await grpc_code(stub.UpdateReport(late, timeout=5)) == "FAILED_PRECONDITION"
    again = close(report_id=rid, outcome=SEIZED, officer="a")
    assert await grpc_code(stub.CloseReport(again, timeout=5)) == "FAILED_PRECONDITION"
    listed = await stub.ListReports(search_pb2.ListReportsRequest(plate="AB1234"), timeout=5)
    assert [r.report_id for r in listed.reports] == [rid]


# ---------------------------------------------------------------- with officer login

TYPED = "Chief Inspector Wong"  # what a caller types as the officer; never what is recorded
PASSWORD = "a long test password"


@pytest.mark.integration
def test_with_officer_login_every_call_needs_a_session_and_the_account_is_the_officer(
    redis_service: EmbeddedRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = f"s{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        store = OfficerStore(client, namespace, session_s=60)
        await store.add("PO 4411", "screener", PASSWORD, by="test")
        token = (await store.login("PO 4411", PASSWORD)).token
        desk = search_desk(redis_service.url, namespace, client)
        servers, ports = [], []
        for role in ("screener", "supervisor"):  # as deployed; and one asking more than a screener
            server = grpc.aio.server()
            search_pb2_grpc.add_SearchServiceServicer_to_server(
                SearchServicer(desk, GrpcGate(store), role), server
            )
            ports.append(server.add_insecure_port("127.0.0.1:0"))
            await server.start()
            servers.append(server)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}") as channel:
                await _logged_in(search_pb2_grpc.SearchServiceStub(channel), token)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[1]}") as channel:
                listing = search_pb2_grpc.SearchServiceStub(channel).ListReports(
                    search_pb2.ListReportsRequest(), metadata=officer_metadata(token), timeout=5
                )
                assert await grpc_code(listing) == "PERMISSION_DENIED"
            config = tmp_path / "c.toml"
            config.write_text(f"[gateway]\nport = {ports[0]}\n")
            opening = ["search", "open", "vc-9", "--plate-hk", "EF 1", "--officer", TYPED]
            monkeypatch.delenv("SMARTCUSTOMS_OFFICER_TOKEN", raising=False)
            assert await asyncio.to_thread(_command, config, opening) == (1, "UNAUTHENTICATED")
            monkeypatch.setenv("SMARTCUSTOMS_OFFICER_TOKEN", token)
            code, said = await asyncio.to_thread(_command, config, opening)
            assert code == 0 and said.endswith("opened for crossing vc-9 (EF1) by PO 4411"), said
            assert await asyncio.to_thread(_command, config, ["search", "list"]) == (0, "")
        finally:
            for server in servers:
                await server.stop(1)
            desk.close_state()
            await client.aclose()

    asyncio.run(main())


def _command(config: Path, argv: list[str]) -> tuple[int, str]:
    """Run ``smartcustoms`` in-process: its exit code and its last line on stdout or stderr ("" for
    a success not asked about: the output of ``list`` is not checked here)."""
    from smartcustoms.runtime.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main(["--config", str(config), *argv])
    code = int(done.value.code or 0)
    if code:
        return code, err.getvalue().split(": ")[1]  # "smartcustoms search: CODE: details"
    return code, out.getvalue().strip() if argv[1] == "open" else ""


async def _logged_in(stub: search_pb2_grpc.SearchServiceStub, token: str) -> None:
    update, close = search_pb2.UpdateReportRequest, search_pb2.CloseReportRequest
    calls: list[Callable[[tuple[tuple[str, str], ...]], Awaitable[object]]] = [
        lambda m: stub.OpenReport(_opening("vc-1", officer=TYPED), metadata=m, timeout=5),
        lambda m: stub.UpdateReport(
            update(report_id="sr-x", officer=TYPED, findings="x"), metadata=m, timeout=5
        ),
        lambda m: stub.CloseReport(
            close(report_id="sr-x", outcome=NOTHING, officer=TYPED), metadata=m, timeout=5
        ),
        lambda m: stub.GetReport(search_pb2.GetReportRequest(report_id="sr-x"), metadata=m, timeout=5),
        lambda m: stub.ListReports(search_pb2.ListReportsRequest(), metadata=m, timeout=5),
    ]
    for call in calls:  # refused before anything is looked at: UNAUTHENTICATED, not NOT_FOUND
        assert await grpc_code(call(())) == "UNAUTHENTICATED"
        assert await grpc_code(call(officer_metadata("a-guessed-token"))) == "UNAUTHENTICATED"
    session = officer_metadata(token)
    assert not (await stub.ListReports(search_pb2.ListReportsRequest(), metadata=session, timeout=5)).reports
    report = await stub.OpenReport(_opening("vc-1", officer=TYPED), metadata=session, timeout=5)
    assert report.opened_by == "PO 4411"
    boot = search_pb2.ChecklistItem(item="boot", checked=True, note="false floor")
    changed = update(report_id=report.report_id, officer=TYPED, checks=[boot], add_goods=[_goods()])
    updated = await stub.UpdateReport(changed, metadata=session, timeout=5)
    assert next(i.officer for i in updated.checklist if i.item == "boot") == "PO 4411"
    assert [g.officer for g in updated.seized_goods] == ["PO 4411"]
    unnamed = close(report_id=report.report_id, outcome=SEIZED, officer="")  # the account is the officer
    assert (await stub.CloseReport(unnamed, metadata=session, timeout=5)).closed_by == "PO 4411"
    stored = await stub.GetReport(search_pb2.GetReportRequest(report_id=report.report_id), metadata=session)
    assert TYPED.encode() not in stored.SerializeToString()


# ---------------------------------------------------------------- the command, without a gateway


def test_the_command_says_in_one_line_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartcustoms.runtime.cli import main

    config = tmp_path / "c.toml"
    config.write_text(f"[gateway]\nport = {free_port()}\n")  # nothing listens there
    for argv, code, line in (
        (
            ["search", "add-goods", "sr-1", "rum", "two", "bottle", "--officer", "a"],
            2,
            "quantity must be a number",
        ),
        (
            ["search", "add-goods", "sr-1", "rum", "2", "bottle", "--duty-hkd", "inf", "--officer", "a"],
            2,
            "finite",
        ),
        (["search", "list", "--limit", "0"], 2, "--limit must be at least 1"),
        (["search", "show", "sr-1"], 1, "smartcustoms search: UNAVAILABLE: "),
    ):
        with pytest.raises(SystemExit) as done:
            main(["--config", str(config), *argv])
        assert done.value.code == code, argv
        (shown,) = capsys.readouterr().err.splitlines()
        assert line in shown
