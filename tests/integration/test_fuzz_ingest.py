"""Fuzzing the ingest stream: valid chunks with bytes flipped, cut short, duplicated, reordered or
replaced by garbage. Every stream is answered, with documented codes only; the gateway keeps serving,
takes a good frame afterwards, and its memory stays flat."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import grpc
import pytest

from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.hardware.sdk.stream import chunks_of
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack, gateway_serving
from smartcustoms.v1 import frame_pb2, ingest_pb2

pytestmark = pytest.mark.integration

STREAMS = 300
METHOD = "/smartcustoms.v1.IngestService/StreamFrames"
DOCUMENTED = {  # google.rpc codes the README's bad-input table promises
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ALREADY_EXISTS,
}
CODES = {code.value[0] for code in DOCUMENTED}


def _messages(rng: random.Random, number: int) -> list[bytes]:
    """One stream's worth of messages: a real frame's chunks, mutated."""
    batch = frame_pb2.RfidReadBatch(reader_id="fuzz")
    for _ in range(rng.randrange(0, 6)):
        batch.reads.add(epc_hex=f"{rng.getrandbits(96):024X}", rssi_dbm=-rng.randrange(30, 90))
    frame = rfid_to_frame(batch, source_id=f"fuzz-{number % 7}", sequence=number)
    frame.frame_id = f"fuzz-{number}"
    chunks = [
        c.SerializeToString() for c in chunks_of(frame, frame.payload, chunk_bytes=rng.choice((8, 32, 4096)))
    ]
    for _ in range(rng.randrange(1, 4)):
        where = rng.randrange(len(chunks))
        data = bytearray(chunks[where])
        match rng.randrange(6):
            case 0 if data:  # flip bytes
                for _ in range(rng.randrange(1, 4)):
                    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            case 1:  # cut short
                data = data[: rng.randrange(len(data) + 1)]
            case 2:  # garbage
                data = bytearray(rng.randbytes(rng.randrange(1, 64)))
            case 3:  # duplicated
                chunks.insert(where, bytes(data))
            case 4:  # reordered
                rng.shuffle(chunks)
            case _:  # dropped
                chunks.pop(where)
                if not chunks:
                    return [bytes(data)]
                continue
        chunks[where % len(chunks)] = bytes(data)
    return chunks


async def _fuzz(target: str, seed: int) -> list[tuple[grpc.StatusCode, list[int]]]:
    rng = random.Random(seed)
    outcomes = []
    async with grpc.aio.insecure_channel(target) as channel:
        call_of = channel.stream_stream(
            METHOD, request_serializer=lambda b: b, response_deserializer=ingest_pb2.IngestAck.FromString
        )
        for number in range(STREAMS):
            messages = _messages(rng, number)

            async def requests(messages: list[bytes] = messages) -> AsyncIterator[bytes]:
                for message in messages:
                    yield message

            call = call_of(requests(), timeout=30)
            codes = [ack.code async for ack in call]
            outcomes.append((await call.code(), codes))
    return outcomes


def test_mutated_chunks_are_each_answered_and_the_gateway_stays_well(gateway_alone: Stack) -> None:
    target = gateway_alone.gateway_target
    rss_before = total(scrape(gateway_alone.metrics_urls[0]), "process_resident_memory_bytes")

    outcomes = asyncio.run(_fuzz(target, seed=20261202))

    assert all(status == grpc.StatusCode.OK for status, _ in outcomes)  # no stream failed outright
    assert all(codes for _, codes in outcomes)  # every stream got at least one answer
    assert {code for _, codes in outcomes for code in codes} <= CODES
    assert sum(code != OK for _, codes in outcomes for code in codes) > STREAMS // 2  # the mutations bit
    assert gateway_serving(target)
    good = rfid_to_frame(frame_pb2.RfidReadBatch(reader_id="after"), source_id="after-fuzz", sequence=1)
    assert [a.code for a in asyncio.run(send_all(target, [good]))] == [OK]
    rss_after = total(scrape(gateway_alone.metrics_urls[0]), "process_resident_memory_bytes")
    grown_mib = (rss_after - rss_before) / 2**20
    print(f"\n{STREAMS} fuzzed streams; gateway RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB")
    assert grown_mib < 64  # bounded: nothing of the refused frames is kept
