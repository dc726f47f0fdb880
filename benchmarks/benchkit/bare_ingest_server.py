"""The floor under the ingest gateway: a grpc.aio server that reads FrameChunks and acks each frame.

Same service name, method, message types and size limits as ``runtime.gateway``, and nothing else:
no assembly, no blob store, no ledger, no publish. It parses each chunk (the gateway must too) and
answers an ``IngestAck`` with the frame id when a frame's last chunk arrives. Run in a process of
its own, as the gateway is, by ``benchkit.ingest.BareIngestServer``:

    python -m benchkit.bare_ingest_server --port 50099 --max-chunk-bytes 8388608
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from smartcustoms.runtime.gateway import SERVICE_NAME
from smartcustoms.v1 import ingest_pb2

OK = grpc.StatusCode.OK.value[0]


async def stream_frames(
    requests: AsyncIterator[ingest_pb2.FrameChunk], context: grpc.aio.ServicerContext
) -> AsyncIterator[ingest_pb2.IngestAck]:
    async for chunk in requests:
        if chunk.last:
            yield ingest_pb2.IngestAck(frame_id=chunk.frame_id, code=OK)


async def serve(port: int, max_chunk_bytes: int) -> None:
    max_message = max_chunk_bytes + 64 * 1024  # as the gateway sizes its limits
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
                stream_frames,
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
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-chunk-bytes", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.max_chunk_bytes))


if __name__ == "__main__":
    main()
