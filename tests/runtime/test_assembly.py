"""FrameAssembler over the in-memory blob store: chunks in, exactly one answer per frame out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import pytest

from smartcustoms.core.blobstore import BlobStoreFull, MemoryBlobStore
from smartcustoms.core.types import Modality
from smartcustoms.runtime import assembly
from smartcustoms.runtime.assembly import Assembled, FrameAssembler, Limits, Rejection
from smartcustoms.v1 import frame_pb2, ingest_pb2

LIMITS = Limits(max_frame_bytes=1024, inline_max_bytes=64)
SMALL = bytes(range(32))  # a 4 x 8 uint8 X-ray: travels inline
LARGE = bytes(i % 251 for i in range(256))  # a 16 x 16 uint8 X-ray: goes to the blob store


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def assembler(store: MemoryBlobStore) -> FrameAssembler:
    return FrameAssembler(store, LIMITS)


def header(payload: bytes, **fields: object) -> frame_pb2.Frame:
    side = {len(SMALL): [4, 8], len(LARGE): [16, 16]}.get(len(payload), [1, len(payload)])
    values: dict[str, object] = {
        "source_id": "lane-1-xray",
        "sequence": 7,
        "modality": frame_pb2.MODALITY_XRAY,
        "shape": side,
        "dtype": frame_pb2.DTYPE_UINT8,
        "encoding": "raw",
        "conveyance_id": "HK-1234",
    }
    values.update(fields)
    return frame_pb2.Frame(**values)  # type: ignore[arg-type]  # protobuf kwargs are untyped


def chunks(
    frame_id: str,
    payload: bytes,
    parts: int = 1,
    *,
    frame: frame_pb2.Frame | None = None,
    total_bytes: int | None = None,
    sha256: str = "",
) -> list[ingest_pb2.FrameChunk]:
    """``payload`` cut into ``parts`` chunks; chunk 0 carries the header, size and checksum."""
    step = -(-len(payload) // parts) if payload else 0
    pieces = [payload[i * step : (i + 1) * step] for i in range(parts)]
    out = [
        ingest_pb2.FrameChunk(frame_id=frame_id, index=i, data=piece, last=i == parts - 1)
        for i, piece in enumerate(pieces)
    ]
    out[0].header.CopyFrom(frame if frame is not None else header(payload))
    out[0].total_bytes = len(payload) if total_bytes is None else total_bytes
    out[0].payload_sha256 = sha256
    return out


def feed_all(
    assembler: FrameAssembler, items: Sequence[ingest_pb2.FrameChunk]
) -> list[Assembled | Rejection]:
    answers = [assembler.feed(chunk) for chunk in items]
    return [answer for answer in answers if answer is not None]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------
# frames that assemble
# ---------------------------------------------------------------------------------------------------


def test_inline_frame_in_one_chunk(assembler: FrameAssembler) -> None:
    [answer] = feed_all(assembler, chunks("f-1", SMALL))
    assert isinstance(answer, Assembled)
    assert answer.modality is Modality.XRAY
    assert answer.frame.frame_id == "f-1"
    assert answer.frame.payload == SMALL
    assert answer.frame.payload_bytes == len(SMALL)
    assert not answer.frame.HasField("blob")
    assert (answer.frame.source_id, answer.frame.sequence, answer.frame.conveyance_id) == (
        "lane-1-xray",
        7,
        "HK-1234",
    )
    assert assembler.frames_open == 0


def test_inline_frame_in_several_chunks(assembler: FrameAssembler) -> None:
    items = chunks("f-1", SMALL, parts=4, sha256=sha(SMALL))
    answers = [assembler.feed(chunk) for chunk in items]
    assert answers[:3] == [None, None, None]
    assert assembler.frames_open == 0
    assert isinstance(answers[3], Assembled)
    assert answers[3].frame.payload == SMALL


def test_blob_frame_in_several_chunks(assembler: FrameAssembler, store: MemoryBlobStore) -> None:
    items = chunks("f-2", LARGE, parts=5, sha256=sha(LARGE).upper())  # the checksum's case does not matter
    for chunk in items[:-1]:
        assert assembler.feed(chunk) is None
        assert assembler.frames_open == 1
    answer = assembler.feed(items[-1])
    assert isinstance(answer, Assembled)
    frame = answer.frame
    assert frame.payload == b""
    assert (frame.blob.store, frame.blob.size_bytes, frame.payload_bytes) == (
        "memory",
        len(LARGE),
        len(LARGE),
    )
    assert bytes(store.read(frame.blob)) == LARGE
    assert store.used_bytes() == len(LARGE)


def test_frame_at_the_inline_limit_stays_inline(store: MemoryBlobStore) -> None:
    payload = bytes(64)
    assembler = FrameAssembler(store, Limits(max_frame_bytes=1024, inline_max_bytes=64))
    [answer] = feed_all(assembler, chunks("f-1", payload, parts=2))
    assert isinstance(answer, Assembled) and answer.frame.payload == payload
    assert store.used_bytes() == 0


def test_empty_last_chunk(assembler: FrameAssembler) -> None:
    items = [*chunks("f-1", SMALL), ingest_pb2.FrameChunk(frame_id="f-1", index=1, last=True)]
    items[0].last = False
    [answer] = feed_all(assembler, items)
    assert isinstance(answer, Assembled) and answer.frame.payload == SMALL


def test_interleaved_frames(assembler: FrameAssembler, store: MemoryBlobStore) -> None:
    small = chunks("a", SMALL, parts=3)
    large = chunks("b", LARGE, parts=3, frame=header(LARGE, sequence=8))
    first, second = feed_all(assembler, [small[0], large[0], large[1], small[1], small[2], large[2]])
    assert isinstance(first, Assembled) and isinstance(second, Assembled)
    assert (first.frame.frame_id, second.frame.frame_id) == ("a", "b")
    assert first.frame.payload == SMALL
    assert bytes(store.read(second.frame.blob)) == LARGE
    assert (first.frame.sequence, second.frame.sequence) == (7, 8)


def test_header_frame_id_may_be_empty_or_equal(assembler: FrameAssembler) -> None:
    [answer] = feed_all(assembler, chunks("f-1", SMALL, frame=header(SMALL, frame_id="f-1")))
    assert isinstance(answer, Assembled) and answer.frame.frame_id == "f-1"


# ---------------------------------------------------------------------------------------------------
# every rejection class, each ending the frame with exactly one answer
# ---------------------------------------------------------------------------------------------------


def _no_header() -> list[ingest_pb2.FrameChunk]:
    items = chunks("f-1", SMALL, parts=2)
    items[0].ClearField("header")
    return items


def _chunk_zero_missing() -> list[ingest_pb2.FrameChunk]:
    return chunks("f-1", LARGE, parts=4)[1:]


def _out_of_order() -> list[ingest_pb2.FrameChunk]:
    items = chunks("f-1", LARGE, parts=4)
    return [items[0], items[2], items[1], items[3]]


def _more_than_declared() -> list[ingest_pb2.FrameChunk]:
    items = chunks("f-1", LARGE, parts=4)
    items[1].data += b"x"
    return items


def _fewer_at_last() -> list[ingest_pb2.FrameChunk]:
    items = chunks("f-1", LARGE, parts=4)
    items[3].data = items[3].data[:-1]
    return items


@dataclass(frozen=True)
class Case:
    build: Callable[[], list[ingest_pb2.FrameChunk]]
    code: grpc.StatusCode
    reason: str
    message: str


CASES = {
    "no_header": Case(
        _no_header, grpc.StatusCode.INVALID_ARGUMENT, "bad_header", "must carry the frame header"
    ),
    "chunk_0_missing": Case(
        _chunk_zero_missing, grpc.StatusCode.OUT_OF_RANGE, "out_of_order", "chunk 1 of a frame whose chunk 0"
    ),
    "out_of_order": Case(_out_of_order, grpc.StatusCode.OUT_OF_RANGE, "out_of_order", "chunk 2 out of order"),
    "frame_id_differs": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, frame_id="other")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "header frame_id 'other' differs",
    ),
    "too_large": Case(
        lambda: chunks("f-1", LARGE, parts=2, total_bytes=LIMITS.max_frame_bytes + 1),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_large",
        "exceeds the limit of 1024 bytes",
    ),
    "bad_shape": Case(
        lambda: chunks("f-1", LARGE, parts=2, frame=header(LARGE, shape=[16, 15])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_shape",
        "needs 240 bytes, payload has 256",
    ),
    "bad_rank": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, shape=[32])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_shape",
        "must have rank",
    ),
    "unknown_dtype": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, dtype=42)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_shape",
        "unknown dtype 42",
    ),
    "unknown_modality": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, modality=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown_modality",
        "unknown modality 0",
    ),
    "missing_source": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, source_id="")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "source_id is required",
    ),
    "source_id_too_long": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, source_id="lane-" + "9" * 200)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "source_id has 205 characters, more than the 128 allowed",
    ),
    "source_id_right_to_left": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, source_id="lane-\u202egnp.exe")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "source_id must be printable ASCII without spaces",
    ),
    "source_id_with_space": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, source_id="lane 3")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "source_id must be printable ASCII",
    ),
    "source_id_with_slash": Case(
        lambda: chunks("f-1", SMALL, parts=2, frame=header(SMALL, source_id="lane/3")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "source_id may not contain '/'",
    ),
    "more_than_declared": Case(
        _more_than_declared,
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "more payload than the declared 256",
    ),
    "fewer_at_last": Case(
        _fewer_at_last, grpc.StatusCode.DATA_LOSS, "missing_chunks", "received 255 of 256 bytes"
    ),
    "checksum_mismatch": Case(
        lambda: chunks("f-1", LARGE, parts=3, sha256=sha(LARGE[::-1])),
        grpc.StatusCode.DATA_LOSS,
        "checksum",
        "does not match payload_sha256",
    ),
    "bad_sha_format": Case(
        lambda: chunks("f-1", LARGE, parts=3, sha256="z" * 64),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "64 hex digits",
    ),
    "short_sha": Case(
        lambda: chunks("f-1", LARGE, parts=3, sha256=sha(LARGE)[:63]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
        "64 hex digits",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rejection(assembler: FrameAssembler, store: MemoryBlobStore, case: Case) -> None:
    answers = feed_all(assembler, case.build())
    assert len(answers) == 1, f"expected exactly one answer, got {answers}"
    [answer] = answers
    assert isinstance(answer, Rejection)
    assert (answer.frame_id, answer.code, answer.reason) == ("f-1", case.code, case.reason)
    assert case.message in answer.message
    assert assembler.frames_open == 0
    assert store.used_bytes() == 0  # partial blobs were aborted, nothing committed


def test_a_frame_id_in_another_source_s_scope_is_refused(assembler: FrameAssembler) -> None:
    """``<source>/<id>`` is the name a source's frame takes when its id was used by another source: no
    other source may send under it, so none can take it first."""
    [answer] = feed_all(assembler, chunks("lane-2/f-1", SMALL, parts=2))
    assert isinstance(answer, Rejection) and answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "must begin with its own source id and '/' (lane-1-xray/...)" in answer.message
    [own] = feed_all(assembler, chunks("lane-1-xray/f-1", SMALL, parts=2))
    assert isinstance(own, Assembled) and own.frame.frame_id == "lane-1-xray/f-1"


def test_rejection_carries_the_header_identity(assembler: FrameAssembler) -> None:
    items = chunks("f-1", LARGE, parts=2, frame=header(LARGE, source_id="gate-9", sequence=99, shape=[2, 2]))
    [answer] = feed_all(assembler, items)
    assert isinstance(answer, Rejection)
    assert (answer.source_id, answer.sequence) == ("gate-9", 99)
    ack = answer.ack()
    assert (ack.frame_id, ack.source_id, ack.sequence) == ("f-1", "gate-9", 99)
    assert ack.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] == 3
    assert ack.message == answer.message


def test_chunk_without_frame_id(assembler: FrameAssembler) -> None:
    answer = assembler.feed(ingest_pb2.FrameChunk(index=0, data=b"x", last=True))
    assert isinstance(answer, Rejection)
    assert (answer.frame_id, answer.code, answer.reason) == (
        "",
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad_header",
    )


def test_failure_mid_frame_swallows_the_rest(assembler: FrameAssembler, store: MemoryBlobStore) -> None:
    items = chunks("f-1", LARGE, parts=6)
    items[2].index = 5
    answers = [assembler.feed(chunk) for chunk in items]
    assert answers[:2] == [None, None]
    assert isinstance(answers[2], Rejection) and answers[2].reason == "out_of_order"
    assert answers[3:] == [None, None, None]
    assert store.used_bytes() == 0


def test_other_frames_unaffected_by_a_failure(assembler: FrameAssembler) -> None:
    bad = chunks("bad", LARGE, parts=3, sha256=sha(b"other"))
    good = chunks("good", SMALL, parts=3)
    answers = feed_all(assembler, [bad[0], good[0], bad[1], good[1], bad[2], good[2]])
    assert [
        (type(a).__name__, a.frame_id if isinstance(a, Rejection) else a.frame.frame_id) for a in answers
    ] == [
        ("Rejection", "bad"),
        ("Assembled", "good"),
    ]


def test_failed_frames_remembered_up_to_a_bound(
    assembler: FrameAssembler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assembly, "FORGET_FAILED_AFTER", 2)
    for frame_id in ("a", "b", "c"):
        [answer] = feed_all(assembler, chunks(frame_id, LARGE, parts=3)[1:2])  # chunk 1 only: fails, not last
        assert isinstance(answer, Rejection)
    assert assembler.feed(ingest_pb2.FrameChunk(frame_id="c", index=2, last=True)) is None  # remembered
    answer = assembler.feed(ingest_pb2.FrameChunk(frame_id="a", index=2, last=True))  # forgotten: answered
    assert isinstance(answer, Rejection) and answer.reason == "out_of_order"


def test_a_refused_frame_sent_again_from_its_first_chunk_is_a_new_attempt(assembler: FrameAssembler) -> None:
    """Push-back refuses a frame at its first chunk; its remaining chunks are dropped, and the SDK's
    resend of the same frame id, later on the same stream, is assembled like any frame."""
    parts = chunks("again", SMALL, parts=3)
    refused = assembler.reject(parts[0], grpc.StatusCode.RESOURCE_EXHAUSTED, "backlog", "wait", 200)
    assert refused.ack().retry_after_ms == 200
    assert feed_all(assembler, parts[1:]) == []  # the first attempt's rest: dropped, no second answer
    (answer,) = feed_all(assembler, parts)
    assert isinstance(answer, Assembled) and answer.frame.frame_id == "again"


# ---------------------------------------------------------------------------------------------------
# the stream ends, or the gateway refuses a frame itself
# ---------------------------------------------------------------------------------------------------


def test_abandon_all(assembler: FrameAssembler, store: MemoryBlobStore) -> None:
    small = chunks("a", SMALL, parts=2)
    large = chunks("b", LARGE, parts=2, frame=header(LARGE, sequence=8))
    assert feed_all(assembler, [small[0], large[0]]) == []
    assert assembler.frames_open == 2
    assert store.used_bytes() == len(large[0].data)  # what the open writer has written, not its size
    rejections = assembler.abandon_all()
    assert sorted((r.frame_id, r.code, r.reason, r.sequence) for r in rejections) == [
        ("a", grpc.StatusCode.DATA_LOSS, "stream_closed", 7),
        ("b", grpc.StatusCode.DATA_LOSS, "stream_closed", 8),
    ]
    assert assembler.frames_open == 0
    assert store.used_bytes() == 0
    assert feed_all(assembler, [small[1], large[1]]) == []  # their late chunks get no second answer
    assert assembler.abandon_all() == []


def test_frames_past_their_deadline_expire_and_give_back_what_they_held(
    assembler: FrameAssembler, store: MemoryBlobStore
) -> None:
    slow = chunks("slow", LARGE, parts=3)
    assert feed_all(assembler, slow[:1]) == []
    cutoff = assembler._partial["slow"].started_s + 1e-6  # begun before this instant
    fresh = chunks("fresh", LARGE, parts=2, frame=header(LARGE, sequence=8))
    assert feed_all(assembler, fresh[:1]) == []
    assembler._partial["fresh"].started_s = cutoff + 1.0  # begun after it
    [late] = assembler.expire(cutoff, 120)
    assert (late.frame_id, late.code, late.reason, late.sequence) == (
        "slow",
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "too_slow",
        7,
    )
    assert f"{len(slow[0].data):,} of {len(LARGE):,} bytes" in late.message and "120 s" in late.message
    assert assembler.frames_open == 1 and store.used_bytes() == len(fresh[0].data)  # only "fresh" holds
    assert feed_all(assembler, slow[1:]) == []  # the late frame's rest: dropped, no second answer
    (done,) = feed_all(assembler, fresh[1:])
    assert isinstance(done, Assembled) and done.frame.frame_id == "fresh"
    assert assembler.expire(cutoff + 10.0, 120) == []


def test_reject_from_outside(assembler: FrameAssembler, store: MemoryBlobStore) -> None:
    items = chunks("f-1", LARGE, parts=3)
    rejection = assembler.reject(items[0], grpc.StatusCode.UNAVAILABLE, "unavailable", "store stayed full")
    assert rejection == Rejection(
        "f-1", grpc.StatusCode.UNAVAILABLE, "unavailable", "store stayed full", "lane-1-xray", 7
    )
    assert feed_all(assembler, items[1:]) == []
    assert assembler.frames_open == 0 and store.used_bytes() == 0


def test_blob_store_full_propagates_with_state_unchanged() -> None:
    store = MemoryBlobStore(capacity_bytes=100)
    assembler = FrameAssembler(store, LIMITS)
    items = chunks("f-1", LARGE, parts=2)
    with pytest.raises(BlobStoreFull):
        assembler.feed(items[0])
    assert assembler.frames_open == 0
    assert store.used_bytes() == 0
    store.capacity_bytes = 1024  # room again: the same first chunk is retried
    [answer] = feed_all(assembler, items)
    assert isinstance(answer, Assembled)
    assert bytes(store.read(answer.frame.blob)) == LARGE


def test_declared_sizes_reserve_nothing_so_hogs_cannot_fill_the_store() -> None:
    """Four streams declare frames of half the store each and send 8 bytes: another stream's frame is
    assembled at once, and the hogs hold only what they sent."""
    store = MemoryBlobStore(capacity_bytes=1024)
    declared = bytes(512)
    for number in range(4):
        first = chunks(f"hog-{number}", declared, parts=64, frame=header(declared, sequence=number))[0]
        assert FrameAssembler(store, LIMITS).feed(first) is None
    assert store.used_bytes() == 4 * 8
    [answer] = feed_all(FrameAssembler(store, LIMITS), chunks("normal", LARGE, parts=2))
    assert isinstance(answer, Assembled)
    assert store.used_bytes() == 4 * 8 + len(LARGE)


def test_a_frame_without_room_midway_is_refused_and_gives_back_its_bytes() -> None:
    store = MemoryBlobStore(capacity_bytes=400)
    limits = Limits(max_frame_bytes=1024, inline_max_bytes=64, retry_after_ms=250)
    first, second = FrameAssembler(store, limits), FrameAssembler(store, limits)
    a = chunks("a", LARGE, parts=4)
    b = chunks("b", LARGE, parts=4, frame=header(LARGE, sequence=8))
    assert feed_all(first, a[:1]) == feed_all(second, b[:2]) == feed_all(first, a[1:3]) == []
    [done] = feed_all(first, a[3:])  # 256 committed, b holds 128
    assert isinstance(done, Assembled) and store.used_bytes() == 384
    [refused] = feed_all(second, b[2:])  # 64 more would make 448 of 400; its last chunk is dropped
    assert (refused.frame_id, refused.code, refused.reason, refused.retry_after_ms) == (
        "b",
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "store_full",
        250,
    )
    assert "blob store full at chunk 2" in refused.message
    assert "128 bytes received were released" in refused.message
    assert second.frames_open == 0 and store.used_bytes() == len(LARGE)
    with pytest.raises(BlobStoreFull):  # sent again from chunk 0: waits for room, nothing begun
        second.feed(b[0])
    assert second.frames_open == 0


def test_reject_from_outside_gives_back_a_begun_frame(
    assembler: FrameAssembler, store: MemoryBlobStore
) -> None:
    items = chunks("f-1", LARGE, parts=4)
    assert feed_all(assembler, items[:2]) == []
    rejection = assembler.reject(items[2], grpc.StatusCode.UNAVAILABLE, "unavailable", "store failed")
    assert (rejection.frame_id, rejection.sequence) == ("f-1", 7)
    assert assembler.frames_open == 0 and store.used_bytes() == 0
    assert feed_all(assembler, items[3:]) == [] and assembler.abandon_all() == []  # answered once


def test_bytes_open_counts_what_unfinished_frames_declared(assembler: FrameAssembler) -> None:
    assert feed_all(assembler, chunks("a", LARGE, parts=4)[:2]) == []
    assert assembler.bytes_open == len(LARGE)  # sent or not
