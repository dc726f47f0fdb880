"""Reassembling chunked frames on one ingest stream, and every check a frame must pass.

Pure logic over a blob store: the gateway feeds it chunks and turns its answers into acknowledgements.
Each frame ends in exactly one answer: ``Assembled`` or ``Rejection``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field

import grpc

from smartcustoms.core.blobstore import BlobStore, BlobStoreFull, BlobWriter
from smartcustoms.core.frames import (
    MAX_ID_CHARS,
    FrameError,
    check_header,
    identifier_problem,
    scoping_problem,
)
from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2, ingest_pb2

FORGET_FAILED_AFTER = 1024  # failed frame ids remembered per stream, to swallow their late chunks


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int
    inline_max_bytes: int
    retry_after_ms: int = 0  # told to a frame refused midway because the blob store filled up


@dataclass(frozen=True)
class Rejection:
    """A frame refused with a gRPC status code; ``reason`` is the bounded metric label."""

    frame_id: str
    code: grpc.StatusCode
    reason: str
    message: str
    source_id: str = ""
    sequence: int = 0
    retry_after_ms: int = 0  # push-back: the frame may be sent again after this long

    def ack(self) -> ingest_pb2.IngestAck:
        return ingest_pb2.IngestAck(
            frame_id=self.frame_id,
            source_id=self.source_id,
            sequence=self.sequence,
            code=self.code.value[0],
            message=self.message,
            retry_after_ms=self.retry_after_ms,
        )


@dataclass(frozen=True)
class Assembled:
    """A complete, checked frame: payload inline or committed to the blob store."""

    frame: frame_pb2.Frame
    modality: Modality
    started_s: float


@dataclass
class _Partial:
    header: frame_pb2.Frame
    modality: Modality
    total_bytes: int
    sha256: str
    started_s: float
    next_index: int = 0
    received: int = 0
    inline: bytearray | None = None
    writer: BlobWriter | None = None
    digest: hashlib._Hash | None = field(default=None)

    def append(self, data: bytes) -> None:
        if self.writer is not None:
            self.writer.write(data)
        else:
            assert self.inline is not None
            self.inline += data
        if self.digest is not None:
            self.digest.update(data)
        self.received += len(data)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.abort()


class FrameAssembler:
    """Chunks in, complete frames or rejections out, for one stream."""

    def __init__(self, store: BlobStore, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self._partial: dict[str, _Partial] = {}
        self._failed: dict[str, None] = {}

    @property
    def frames_open(self) -> int:
        return len(self._partial)

    @property
    def bytes_open(self) -> int:
        """Bytes the open (begun, unfinished) frames declared: what they hold in the blob store so far
        plus what they may still send."""
        return sum(p.total_bytes for p in self._partial.values())

    def feed(self, chunk: ingest_pb2.FrameChunk) -> Assembled | Rejection | None:
        """Take one chunk. May raise BlobStoreFull on a first chunk: retry it later, state unchanged.
        A later chunk that finds no room in the blob store refuses its frame (RESOURCE_EXHAUSTED,
        reason ``store_full``, with ``retry_after_ms``) and releases the bytes the frame held."""
        if not chunk.frame_id:
            return Rejection(
                "", grpc.StatusCode.INVALID_ARGUMENT, "bad_header", "every chunk needs a frame_id"
            )
        if chunk.frame_id in self._failed:
            if chunk.index != 0 or chunk.frame_id in self._partial:
                return None  # the frame was answered already; its remaining chunks are dropped
            del self._failed[chunk.frame_id]  # sent again from its first chunk: a new attempt
        return self._take(chunk)

    def _take(self, chunk: ingest_pb2.FrameChunk) -> Assembled | Rejection | None:
        partial = self._partial.get(chunk.frame_id)
        if partial is None:
            return self._start(chunk)
        if chunk.index != partial.next_index:
            return self._fail(
                chunk.frame_id,
                grpc.StatusCode.OUT_OF_RANGE,
                "out_of_order",
                f"chunk {chunk.index} out of order: expected {partial.next_index}",
            )
        try:
            return self._append(partial, chunk)
        except BlobStoreFull as error:
            return self._reject_partial(
                chunk.frame_id,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "store_full",
                f"blob store full at chunk {chunk.index} ({error}): the frame's {partial.received} bytes "
                f"received were released; send it again in {self.limits.retry_after_ms} ms",
                last=chunk.last,
                retry_after_ms=self.limits.retry_after_ms,
            )

    def abandon_all(self) -> list[Rejection]:
        """The stream ended: every frame still open loses its missing chunks."""
        rejections = [
            self._reject_partial(
                frame_id,
                grpc.StatusCode.DATA_LOSS,
                "stream_closed",
                "stream ended before the frame's last chunk",
            )
            for frame_id in list(self._partial)
        ]
        return rejections

    def expire(self, begun_before_s: float, deadline_s: float) -> list[Rejection]:
        """Frames begun before ``begun_before_s`` (monotonic) and still unfinished are refused
        DEADLINE_EXCEEDED and give back what they held: a stream that trickles its bytes cannot keep a
        blob store reservation or a frame slot for ever. Their later chunks are dropped."""
        late = [frame_id for frame_id, p in self._partial.items() if p.started_s < begun_before_s]
        return [
            self._reject_partial(
                frame_id,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "too_slow",
                f"the frame's chunks did not all arrive within {deadline_s:g} s of its first "
                f"({self._partial[frame_id].received:,} of {self._partial[frame_id].total_bytes:,} bytes): "
                "what it held was released; send it again",
            )
            for frame_id in late
        ]

    def reject(
        self,
        chunk: ingest_pb2.FrameChunk,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        retry_after_ms: int = 0,
    ) -> Rejection:
        """Refuse the frame ``chunk`` belongs to, from outside (e.g. the store stayed full, push-back, or
        the store failed); a frame already begun gives back what it held."""
        if chunk.frame_id in self._partial:
            return self._reject_partial(
                chunk.frame_id, code, reason, message, last=chunk.last, retry_after_ms=retry_after_ms
            )
        self._remember_failed(chunk.frame_id)
        header = chunk.header
        return Rejection(
            chunk.frame_id, code, reason, message, header.source_id, header.sequence, retry_after_ms
        )

    def _start(self, chunk: ingest_pb2.FrameChunk) -> Assembled | Rejection | None:
        if chunk.index != 0:
            return self._fail(
                chunk.frame_id,
                grpc.StatusCode.OUT_OF_RANGE,
                "out_of_order",
                f"chunk {chunk.index} of a frame whose chunk 0 never arrived",
            )
        header = chunk.header
        if not chunk.HasField("header"):
            return self._fail(
                chunk.frame_id,
                grpc.StatusCode.INVALID_ARGUMENT,
                "bad_header",
                "chunk 0 must carry the frame header",
            )
        rejection = self._check_first(chunk)
        if rejection is not None:
            return rejection
        modality = Modality.from_proto(header.modality)
        kept = frame_pb2.Frame()
        kept.CopyFrom(header)  # a copy: the chunk's own header would keep its whole payload in memory
        partial = _Partial(
            header=kept,
            modality=modality,
            total_bytes=chunk.total_bytes,
            sha256=chunk.payload_sha256.lower(),
            started_s=time.monotonic(),
        )
        if chunk.payload_sha256:
            partial.digest = hashlib.sha256()
        if chunk.total_bytes > self.limits.inline_max_bytes:
            # BlobStoreFull if the declared size does not fit now; only written bytes are reserved
            partial.writer = self.store.open_writer(uuid.uuid4().hex, chunk.total_bytes)
        else:
            partial.inline = bytearray()
        self._partial[chunk.frame_id] = partial
        try:
            return self._append(partial, chunk)
        except BaseException:  # e.g. no room for the first chunk's bytes after all: as if never begun
            if self._partial.pop(chunk.frame_id, None) is not None:
                partial.discard()
            raise

    def _check_first(self, chunk: ingest_pb2.FrameChunk) -> Rejection | None:
        header = chunk.header
        if header.frame_id and header.frame_id != chunk.frame_id:
            return self._fail(
                chunk.frame_id,
                grpc.StatusCode.INVALID_ARGUMENT,
                "bad_header",
                f"header frame_id {header.frame_id!r} differs from the chunk's",
            )
        for value, what in ((chunk.frame_id, "frame_id"), (header.source_id, "source_id")):
            if problem := identifier_problem(value, what):
                return self._fail(
                    chunk.frame_id[:MAX_ID_CHARS], grpc.StatusCode.INVALID_ARGUMENT, "bad_header", problem
                )
        if problem := scoping_problem(chunk.frame_id, header.source_id):
            return self._fail(chunk.frame_id, grpc.StatusCode.INVALID_ARGUMENT, "bad_header", problem)
        if chunk.total_bytes > self.limits.max_frame_bytes:
            return self._fail(
                chunk.frame_id,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "too_large",
                f"frame of {chunk.total_bytes} bytes exceeds the limit of "
                f"{self.limits.max_frame_bytes} bytes",
                header,
            )
        if chunk.payload_sha256 and not _is_sha256(chunk.payload_sha256):
            return self._fail(
                chunk.frame_id,
                grpc.StatusCode.INVALID_ARGUMENT,
                "bad_header",
                "payload_sha256 must be 64 hex digits",
                header,
            )
        try:
            check_header(header, chunk.total_bytes)
        except FrameError as error:
            reason = (
                "unknown_modality"
                if "modality" in str(error)
                else ("bad_header" if "required" in str(error) else "bad_shape")
            )
            return self._fail(chunk.frame_id, grpc.StatusCode.INVALID_ARGUMENT, reason, str(error), header)
        return None

    def _append(self, partial: _Partial, chunk: ingest_pb2.FrameChunk) -> Assembled | Rejection | None:
        if partial.received + len(chunk.data) > partial.total_bytes:
            return self._reject_partial(
                chunk.frame_id,
                grpc.StatusCode.INVALID_ARGUMENT,
                "bad_header",
                f"more payload than the declared {partial.total_bytes} bytes",
                last=chunk.last,
            )
        partial.append(chunk.data)
        partial.next_index += 1
        if not chunk.last:
            return None
        return self._finish(chunk.frame_id, partial)

    def _finish(self, frame_id: str, partial: _Partial) -> Assembled | Rejection:
        if partial.received != partial.total_bytes:
            return self._reject_partial(
                frame_id,
                grpc.StatusCode.DATA_LOSS,
                "missing_chunks",
                f"received {partial.received} of {partial.total_bytes} bytes",
                last=True,
            )
        if partial.digest is not None and partial.digest.hexdigest() != partial.sha256:
            return self._reject_partial(
                frame_id,
                grpc.StatusCode.DATA_LOSS,
                "checksum",
                "payload does not match payload_sha256",
                last=True,
            )
        del self._partial[frame_id]
        frame = frame_pb2.Frame()
        frame.CopyFrom(partial.header)
        frame.frame_id = frame_id
        frame.payload_bytes = partial.total_bytes
        if partial.writer is not None:
            frame.ClearField("payload")
            frame.blob.CopyFrom(partial.writer.commit())
        else:
            assert partial.inline is not None
            frame.payload = bytes(partial.inline)
        return Assembled(frame, partial.modality, partial.started_s)

    def _fail(
        self,
        frame_id: str,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        header: frame_pb2.Frame | None = None,
    ) -> Rejection:
        if frame_id in self._partial:
            return self._reject_partial(frame_id, code, reason, message)
        self._remember_failed(frame_id)
        return Rejection(
            frame_id,
            code,
            reason,
            message,
            header.source_id if header else "",
            header.sequence if header else 0,
        )

    def _reject_partial(
        self,
        frame_id: str,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        last: bool = False,
        retry_after_ms: int = 0,
    ) -> Rejection:
        partial = self._partial.pop(frame_id)
        partial.discard()
        if not last:
            self._remember_failed(frame_id)
        header = partial.header
        return Rejection(frame_id, code, reason, message, header.source_id, header.sequence, retry_after_ms)

    def _remember_failed(self, frame_id: str) -> None:
        self._failed[frame_id] = None
        while len(self._failed) > FORGET_FAILED_AFTER:
            self._failed.pop(next(iter(self._failed)))


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
