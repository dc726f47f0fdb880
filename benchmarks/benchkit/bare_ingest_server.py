"""The floor under the ingest gateway: a grpc.aio server that reads FrameChunks and acks each frame.

Same service name, method, message types and size limits as ``runtime.gateway``, and nothing else:
no blob store, no ledger, no checks. It parses each chunk (the gateway must too) and answers an
``IngestAck`` with the frame id when a frame's last chunk arrives. Run in a process of its own, as the
gateway is, by ``benchkit.ingest.BareIngestServer``:

    python -m benchkit.bare_ingest_server --port 50099 --max-chunk-bytes 8388608

With ``--bootstrap`` and ``--topic`` it is the floor of a gateway built as the framework's is (grpc.aio,
aiokafka, one frame acked only once it is durable in Kafka): each frame's chunks are joined into the
``Frame`` (header and payload inline), sent with the gateway's producer settings (``acks=1``,
``linger_ms=1``), keyed by its source, and acked once the broker has acked it; a stream's acks go out in
its frames' order while later frames are already being sent.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
from aiokafka import AIOKafkaProducer
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from smartcustoms.runtime.gateway import SERVICE_NAME
from smartcustoms.v1 import ingest_pb2

OK = grpc.StatusCode.OK.value[0]
Handler = Callable[
    [AsyncIterator[ingest_pb2.FrameChunk], grpc.aio.ServicerContext], AsyncIterator[ingest_pb2.IngestAck]
]


async def stream_frames(
    requests: AsyncIterator[ingest_pb2.FrameChunk], context: grpc.aio.ServicerContext
) -> AsyncIterator[ingest_pb2.IngestAck]:
    async for chunk in requests:
        if chunk.last:
            yield ingest_pb2.IngestAck(frame_id=chunk.frame_id, code=OK)


def publishing(producer: AIOKafkaProducer, topic: str) -> Handler:
    """``stream_frames`` that acks a frame only once the broker has acked its publish."""

    async def stream_frames(
        requests: AsyncIterator[ingest_pb2.FrameChunk], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_pb2.IngestAck]:
        sent: asyncio.Queue[tuple[str, asyncio.Future[object]] | None] = asyncio.Queue()

        async def read() -> None:
            open_frames: dict[str, tuple[ingest_pb2.FrameChunk, list[bytes]]] = {}
            try:
                async for chunk in requests:
                    if chunk.index == 0:
                        open_frames[chunk.frame_id] = (chunk, [])
                    first, parts = open_frames[chunk.frame_id]
                    parts.append(chunk.data)
                    if chunk.last:
                        del open_frames[chunk.frame_id]
                        frame = first.header
                        frame.payload = b"".join(parts)
                        key = frame.source_id.encode()
                        delivery = await producer.send(topic, frame.SerializeToString(), key=key)
                        sent.put_nowait((chunk.frame_id, delivery))
            finally:
                sent.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await sent.get()) is not None:
                frame_id, delivery = item
                await delivery
                yield ingest_pb2.IngestAck(frame_id=frame_id, code=OK)
            await reader
        finally:
            reader.cancel()

    return stream_frames


async def serve(port: int, max_chunk_bytes: int, bootstrap: str | None, topic: str | None) -> None:
    max_message = max_chunk_bytes + 64 * 1024  # as the gateway sizes its limits
    producer = None
    handle: Handler = stream_frames
    if bootstrap and topic:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks=1, linger_ms=1, max_request_size=max_message + 256 * 1024
        )  # as runtime.publisher.producer_for
        await producer.start()
        handle = publishing(producer, topic)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message),
            ("grpc.max_send_message_length", max_message),
        ]
    )
    handler = grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "StreamFrames": grpc.stream_stream_rpc_method_handler(
                handle,
                request_deserializer=ingest_pb2.FrameChunk.FromString,
                response_serializer=ingest_pb2.IngestAck.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    for service in ("", SERVICE_NAME):  # the whole server and ingest, as the gateway reports them
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    try:
        await server.wait_for_termination()
    finally:
        if producer is not None:
            await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-chunk-bytes", type=int, required=True)
    parser.add_argument("--bootstrap", help="publish every frame to this Kafka before its ack")
    parser.add_argument("--topic", help="the topic to publish to (with --bootstrap)")
    args = parser.parse_args()
    if bool(args.bootstrap) != bool(args.topic):
        parser.error("--bootstrap and --topic go together")
    asyncio.run(serve(args.port, args.max_chunk_bytes, args.bootstrap, args.topic))


if __name__ == "__main__":
    main()
