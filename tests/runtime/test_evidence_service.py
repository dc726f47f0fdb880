"""The EvidenceService with officer login on, on a real Redis: every call needs a logged-in officer of
the role asked, and the officers recorded (the seizing officer, a work order's officers, in the items,
the orders and the audit trail) include the account logged in, never only the names a caller typed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
import redis
import redis.asyncio as aioredis

from smartcustoms.core.audit import audit_key
from smartcustoms.core.epc import encode_sgtin96
from smartcustoms.plugins.evidence.custody import item_key
from smartcustoms.runtime.evidence import EvidenceDesk, EvidenceServicer, caller_first
from smartcustoms.runtime.officer_auth import GrpcGate, officer_metadata
from smartcustoms.runtime.officers import OfficerStore
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.testing import grpc_code
from smartcustoms.v1 import evidence_pb2, evidence_pb2_grpc

TYPED = "Chief Inspector Wong"  # what a caller types as an officer; never recorded in place of the account
PASSWORD = "a long test password"
CASE = "HK-2026-0007"
Metadata = tuple[tuple[str, str], ...]


def test_the_caller_is_first_of_a_work_orders_officers_and_never_absent() -> None:
    assert caller_first("PO 4411", ["SO Lee", " PO 4411 "]) == ["PO 4411", "SO Lee"]
    assert caller_first("PO 4411", ["PO 4411", "SO Lee"]) == ["PO 4411", "SO Lee"]
    assert caller_first("PO 4411", [TYPED, "SO Lee"]) == ["PO 4411", "SO Lee"]  # takes the first's place
    assert caller_first("PO 4411", [TYPED]) == ["PO 4411"]
    assert caller_first("PO 4411", ["", "SO Lee"]) == ["PO 4411"]  # blanks do not count
    assert caller_first("PO 4411", []) == ["PO 4411"]


@pytest.mark.integration
def test_with_officer_login_every_call_needs_a_session_and_the_account_is_recorded(
    redis_service: EmbeddedRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = f"ev{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        store = OfficerStore(client, namespace, session_s=60)
        await store.add("PO 4411", "screener", PASSWORD, by="test")
        token = (await store.login("PO 4411", PASSWORD)).token
        desk = EvidenceDesk(redis.Redis.from_url(redis_service.url), namespace)
        servers, ports = [], []
        for role in ("screener", "supervisor"):  # as deployed; and one asking more than a screener
            server = grpc.aio.server()
            evidence_pb2_grpc.add_EvidenceServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
                EvidenceServicer(desk, GrpcGate(store), role), server
            )
            ports.append(server.add_insecure_port("127.0.0.1:0"))
            await server.start()
            servers.append(server)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}") as channel:
                stub = evidence_pb2_grpc.EvidenceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
                await _refused_without_a_session(stub)
                await _recorded_as_the_account(stub, officer_metadata(token), desk)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[1]}") as channel:
                stub = evidence_pb2_grpc.EvidenceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
                locate = stub.Locate(
                    evidence_pb2.LocateRequest(case_number=CASE), metadata=officer_metadata(token), timeout=5
                )
                assert await grpc_code(locate) == "PERMISSION_DENIED"
            await _the_command_sends_the_token(tmp_path, ports[0], token, monkeypatch, desk)
            trail = b"".join(desk.client.lrange(audit_key(namespace, "log"), 0, -1))
            assert b"PO 4411" in trail and TYPED.encode() not in trail
        finally:
            for server in servers:
                await server.stop(1)
            desk.close()
            await client.aclose()

    asyncio.run(main())


async def _refused_without_a_session(stub: evidence_pb2_grpc.EvidenceServiceStub) -> None:
    epc = encode_sgtin96("4891234", "100005", 1)
    calls: list[Callable[[Metadata], Awaitable[object]]] = [
        lambda m: stub.RegisterItem(
            evidence_pb2.RegisterItemRequest(
                epc_hex=epc, case_number=CASE, description="cash", seizing_officer=TYPED
            ),
            metadata=m,
            timeout=5,
        ),
        lambda m: stub.SubmitOrder(
            evidence_pb2.WorkOrder(
                action="deposit", epc_hex=epc, officers=[TYPED], reason="x", to_zone="vault-a"
            ),
            metadata=m,
            timeout=5,
        ),
        lambda m: stub.Locate(evidence_pb2.LocateRequest(case_number=CASE), metadata=m, timeout=5),
        lambda m: stub.StockTake(evidence_pb2.StockTakeRequest(), metadata=m, timeout=5),
        lambda m: stub.SuggestSlot(evidence_pb2.SuggestSlotRequest(case_number=CASE), metadata=m, timeout=5),
    ]
    for call in calls:
        assert await grpc_code(call(())) == "UNAUTHENTICATED"
        assert await grpc_code(call(officer_metadata("a-guessed-token"))) == "UNAUTHENTICATED"


async def _recorded_as_the_account(
    stub: evidence_pb2_grpc.EvidenceServiceStub, session: Metadata, desk: EvidenceDesk
) -> None:
    epc = encode_sgtin96("4891234", "100005", 2)
    register = evidence_pb2.RegisterItemRequest(
        epc_hex=epc, case_number=CASE, description="cash in a suitcase", seizing_officer=TYPED
    )
    item = await stub.RegisterItem(register, metadata=session, timeout=5)
    assert item.seizing_officer == "PO 4411"
    order = evidence_pb2.WorkOrder
    deposit = order(
        order_id="WO-1", action="deposit", epc_hex=epc, officers=[TYPED], reason="seized", to_zone="vault-b"
    )
    assert (await stub.SubmitOrder(deposit, metadata=session, timeout=5)).status == "stored"
    # a two-person order: one name typed leaves only the caller, and the rule refuses it
    alone = order(
        order_id="WO-2", action="retrieval", epc_hex=epc, officers=[TYPED], reason="trial", purpose="court"
    )
    assert await grpc_code(stub.SubmitOrder(alone, metadata=session, timeout=5)) == "FAILED_PRECONDITION"
    pair = order(
        order_id="WO-3",
        action="retrieval",
        epc_hex=epc,
        officers=["SO Lee", "PO 4411"],
        reason="trial",
        purpose="court",
    )
    assert (await stub.SubmitOrder(pair, metadata=session, timeout=5)).status == "out"
    stranger_first = order(
        order_id="WO-4",
        action="return",
        epc_hex=epc,
        officers=[TYPED, "SO Lee"],
        reason="back",
        to_zone="vault-b",
    )
    assert (await stub.SubmitOrder(stranger_first, metadata=session, timeout=5)).status == "stored"
    recorded = [desk.store.get(f"order:WO-{n}") for n in (1, 3, 4)]
    assert [r["officers"] if r else None for r in recorded] == [
        ["PO 4411"],
        ["PO 4411", "SO Lee"],
        ["PO 4411", "SO Lee"],
    ]
    located = await stub.Locate(evidence_pb2.LocateRequest(epc_hex=epc), metadata=session, timeout=5)
    assert [i.seizing_officer for i in located.items] == ["PO 4411"]


async def _the_command_sends_the_token(
    tmp_path: Path, port: int, token: str, monkeypatch: pytest.MonkeyPatch, desk: EvidenceDesk
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[gateway]\nport = {port}\n")
    epc = encode_sgtin96("4891234", "100005", 3)
    register = ["evidence", "register", "--case", CASE, "--description", "watch", "--officer", TYPED]
    register += ["--epc", epc]
    monkeypatch.delenv("SMARTCUSTOMS_OFFICER_TOKEN", raising=False)
    code, said = await asyncio.to_thread(_command, config, register)
    assert code == 1 and said.startswith("smartcustoms evidence: UNAUTHENTICATED"), said
    monkeypatch.setenv("SMARTCUSTOMS_OFFICER_TOKEN", token)
    code, said = await asyncio.to_thread(_command, config, register)
    assert code == 0, said
    item = desk.store.get(item_key(epc))
    assert item is not None and item["officer"] == "PO 4411"


def _command(config: Path, argv: list[str]) -> tuple[int, str]:
    """Run ``smartcustoms`` in-process: its exit code and what it wrote (stderr on failure)."""
    from smartcustoms.runtime.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main(["--config", str(config), *argv])
    code = int(done.value.code or 0)
    return code, (err if code else out).getvalue().strip()
