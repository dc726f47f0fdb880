"""The audit trail's chain: how records are encoded, hashed and checked (no storage here).

The audit trail is an append-only, hash-chained log of everything the product decided or was told.

Every verdict (with the plugin versions, reference-data hashes and configuration hash that made it),
every officer's adjudication, every evidence custody event and every override is one record. A record is
``{"seq", "at", "kind", "body", "prev", "hash"}``:

- ``seq`` counts from 0 with no gaps; ``at`` is when it was appended (UTC, ISO 8601, microseconds);
- ``digest`` = SHA-256 of the canonical JSON of ``{"seq", "at", "kind", "body"}`` (sorted keys, no
  spaces, UTF-8), and ``hash`` = SHA-256 of the previous record's hash followed by ``digest`` (both as
  32 raw bytes; the first record follows 32 zero bytes).

Changing a record's content breaks its own hash; rewriting it with a fresh hash breaks the next record's
link; removing or reordering records breaks the sequence; rewriting the whole tail consistently is caught
by the anchors (the chain head written, from time to time, to a second store outside Redis).

The log itself, in Redis, is ``smartcustoms.core.audit``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "GENESIS_HASH",
    "INDEXED_FIELDS",
    "Anchor",
    "AuditRecord",
    "Breach",
    "canonical_json",
    "chain_hash",
    "check_chain",
    "check_proof",
    "record_digest",
    "seal",
    "seal_encoded",
    "utc_stamp",
]

GENESIS_HASH = "0" * 64
# Body fields that are indexed, so that every record about one of their values is found without a scan.
INDEXED_FIELDS = ("case",)


def canonical_json(value: Any) -> str:
    """The one JSON form hashed and stored: orjson's, with sorted keys (no spaces, non-ASCII kept as
    UTF-8, floats in their shortest round-trip form)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@functools.lru_cache(maxsize=256)
def _string(text: str) -> str:
    """A string's canonical JSON; the few kinds and the batch's time repeat, so they are cached."""
    return canonical_json(text)


def utc_stamp(at_s: float) -> str:
    return datetime.fromtimestamp(at_s, UTC).isoformat(timespec="microseconds")


def record_digest(seq: int, at: str, kind: str, body: Mapping[str, Any]) -> str:
    return _digest(seq, at, kind, canonical_json(body))


def _digest(seq: int, at: str, kind: str, body_json: str) -> str:
    """SHA-256 of the canonical JSON of {"seq", "at", "kind", "body"}, with the body already encoded
    (keys in sorted order: at, body, kind, seq)."""
    content = f'{{"at":{_string(at)},"body":{body_json},"kind":{_string(kind)},"seq":{seq}}}'
    return hashlib.sha256(content.encode()).hexdigest()


def chain_hash(prev_hash: str, digest: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + bytes.fromhex(digest)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: str
    kind: str
    body: Mapping[str, Any]
    prev: str
    hash: str

    @property
    def digest(self) -> str:
        return record_digest(self.seq, self.at, self.kind, self.body)

    def to_json(self) -> str:
        return canonical_json(
            {
                "seq": self.seq,
                "at": self.at,
                "kind": self.kind,
                "body": self.body,
                "prev": self.prev,
                "hash": self.hash,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditRecord:
        """Parse a stored record; ValueError when it is not one (the log was written behind our back)."""
        try:
            value = json.loads(text)
            return cls(
                int(value["seq"]),
                str(value["at"]),
                str(value["kind"]),
                dict(value["body"]),
                str(value["prev"]),
                str(value["hash"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"not an audit record: {error}") from error


def seal(seq: int, prev_hash: str, kind: str, body: Mapping[str, Any], at_s: float) -> AuditRecord:
    """The record that follows a record of hash ``prev_hash`` at position ``seq``."""
    return seal_encoded(seq, prev_hash, kind, canonical_json(body), utc_stamp(at_s), body)[0]


def seal_encoded(
    seq: int, prev_hash: str, kind: str, body_json: str, at: str, body: Mapping[str, Any]
) -> tuple[AuditRecord, str]:
    """``seal`` with the body encoded once, for the hot path: the record and its stored JSON (the
    canonical JSON of the record, keys in sorted order: at, body, hash, kind, prev, seq)."""
    digest = _digest(seq, at, kind, body_json)
    hash_ = chain_hash(prev_hash, digest)
    stored = (
        f'{{"at":{_string(at)},"body":{body_json},"hash":"{hash_}","kind":{_string(kind)},'
        f'"prev":"{prev_hash}","seq":{seq}}}'
    )
    return AuditRecord(seq, at, kind, body, prev_hash, hash_), stored


@dataclass(frozen=True)
class Anchor:
    """The chain head as written to the second store: record ``seq`` had hash ``hash``."""

    seq: int
    hash: str
    at: str

    def to_json(self) -> str:
        return canonical_json({"seq": self.seq, "hash": self.hash, "at": self.at})

    @classmethod
    def from_json(cls, text: str) -> Anchor:
        value = json.loads(text)
        return cls(int(value["seq"]), str(value["hash"]), str(value["at"]))


@dataclass(frozen=True)
class Breach:
    """The first place the chain is not what was appended: the position, and what is wrong there."""

    seq: int
    problem: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.problem}"


def check_chain(entries: Iterable[str | bytes], anchors: Sequence[Anchor] = ()) -> tuple[int, Breach | None]:
    """Walk stored records in order; return how many were checked and the first breach (None: intact).

    The breach names the record that was changed, removed or reordered: a record whose content does
    not give its hash was changed; a record whose hash is intact but which the next one does not link to
    was rewritten (changed with a fresh hash); a position holding another sequence number lost or
    swapped records there; an anchor the chain does not reach or does not match shows a rewritten or cut
    tail.
    """
    by_seq = {anchor.seq: anchor for anchor in anchors}
    prev: AuditRecord | None = None
    position = -1
    for position, raw in enumerate(entries):
        breach = _check_one(position, raw, prev)
        if breach is not None:
            return position, breach
        prev = AuditRecord.from_json(raw)
        anchor = by_seq.get(position)
        if anchor is not None and anchor.hash != prev.hash:
            return position, Breach(position, f"does not match the anchor written at {anchor.at}")
    count = position + 1
    beyond = [anchor for anchor in anchors if anchor.seq >= count]
    if beyond:
        last = max(beyond, key=lambda anchor: anchor.seq)
        return count, Breach(
            count, f"missing: the chain ends before record {last.seq}, anchored at {last.at}"
        )
    return count, None


def _check_one(position: int, raw: str | bytes, prev: AuditRecord | None) -> Breach | None:
    try:
        record = AuditRecord.from_json(raw)
    except ValueError as error:
        return Breach(position, f"changed: {error}")
    if record.seq != position:
        what = "removed or moved" if record.seq > position else "reordered or duplicated"
        return Breach(position, f"{what}: position {position} holds record {record.seq}")
    if chain_hash(record.prev, record.digest) != record.hash:
        return Breach(position, "changed: its content does not give its hash")
    if prev is not None and record.prev != prev.hash:
        return Breach(
            position - 1, "changed: rewritten with a new hash, the next record links to the old one"
        )
    if prev is None and record.prev != GENESIS_HASH:
        return Breach(position, "changed: the first record does not start the chain")
    return None


def check_proof(proof: Mapping[str, Any]) -> Breach | None:
    """Check a case export offline (``smartcustoms audit export``): each of its records hashes right,
    and the digests between them chain from the first record up to the anchor the proof ends at."""
    try:
        records = {r.seq: r for r in map(_record_of, proof["records"])}
        links = proof["links"]
        first = int(links["from_seq"])
        current = str(links["prev"])
        digests = list(links["digests"])
        anchor = proof["anchor"]
    except (KeyError, TypeError, ValueError) as error:
        return Breach(-1, f"not a proof: {error}")
    for offset, digest in enumerate(digests):
        seq = first + offset
        record = records.get(seq)
        if record is not None and (record.digest != digest or record.prev != current):
            return Breach(seq, "changed: the record does not match the chain")
        current = chain_hash(current, digest)
        if record is not None and record.hash != current:
            return Breach(seq, "changed: its content does not give its hash")
    end = first + len(digests) - 1
    if set(records) - set(range(first, end + 1)):
        return Breach(min(set(records) - set(range(first, end + 1))), "not covered by the proof's links")
    if int(anchor["seq"]) != end or str(anchor["hash"]) != current:
        return Breach(end, "the links do not end at the anchor")
    return None


def _record_of(value: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord.from_json(canonical_json(value))


def iter_json(records: Iterable[AuditRecord]) -> Iterator[str]:
    for record in records:
        yield record.to_json()
