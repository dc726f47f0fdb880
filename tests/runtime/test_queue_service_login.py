"""The QueueService with officer login on, on a real Redis: drivers' calls stay public, the counters'
calls need a logged-in officer (the terminal a supervisor), and the officer recorded is the account."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.audit import audit_key
from smartcustoms.runtime.air_queue import QueueDesk
from smartcustoms.runtime.air_queue_service import QueueServicer
from smartcustoms.runtime.officer_auth import GrpcGate, officer_metadata
from smartcustoms.runtime.officers import OfficerStore
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.testing import grpc_code
from smartcustoms.v1 import queue_pb2, queue_pb2_grpc

pytestmark = pytest.mark.integration

TYPED = "Chief Inspector Wong"
PASSWORD = "a long test password"


def test_counters_need_a_logged_in_officer_and_record_the_account(redis_service: EmbeddedRedis) -> None:
    namespace = f"qs{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        store = OfficerStore(client, namespace, session_s=60)
        await store.add("PO 4411", "screener", PASSWORD, by="test")
        await store.add("SPO 12", "supervisor", PASSWORD, by="test")
        screener = officer_metadata((await store.login("PO 4411", PASSWORD)).token)
        supervisor = officer_metadata((await store.login("SPO 12", PASSWORD)).token)
        server = grpc.aio.server()
        queue_pb2_grpc.add_QueueServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
            QueueServicer(QueueDesk(client, namespace), GrpcGate(store)), server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = queue_pb2_grpc.QueueServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
                counter = queue_pb2.CounterRequest(counter_id="c1", officer=TYPED)
                for method in ("OpenCounter", "CloseCounter", "CallNext", "MarkArrived"):
                    call = getattr(stub, method)
                    assert await grpc_code(call(counter, timeout=5)) == "UNAUTHENTICATED", method
                    forged = officer_metadata("a-guessed-token")
                    assert await grpc_code(call(counter, metadata=forged, timeout=5)) == "UNAUTHENTICATED"
                terminal = queue_pb2.TerminalRequest(open=True, officer=TYPED)
                assert await grpc_code(stub.SetTerminal(terminal, metadata=screener, timeout=5)) == (
                    "PERMISSION_DENIED"
                )
                assert await grpc_code(stub.SetTerminal(terminal, metadata=supervisor, timeout=5)) == "OK"
                board = await stub.OpenCounter(counter, metadata=screener, timeout=5)
                assert [c.counter_id for c in board.counters if c.open] == ["c1"]
                # a driver needs no login
                ticket = await stub.TakeTicket(queue_pb2.TakeTicketRequest(cargo_type="general"), timeout=5)
                assert (await stub.GetTicket(queue_pb2.TicketRequest(ticket_id=ticket.ticket_id))).ticket_id
                await stub.CallNext(counter, metadata=screener, timeout=5)
            trail = b"".join(await client.lrange(audit_key(namespace, "pending"), 0, -1))
            assert b"PO 4411" in trail and b"SPO 12" in trail and TYPED.encode() not in trail
        finally:
            await server.stop(1)
            await client.aclose()

    asyncio.run(main())
