"""Extraction measured: news and posts as text only, against the entities the generator gave them.

``text_only`` strips the ``entities`` of news items and social posts (case files keep theirs: the case
system exports them), as a news feed or a forum would hand them over. ``extraction_counts`` scores what
the plugin's ``with_entities`` reads from each such record's text against the mentions the original
record carried (the generator's truth): per entity type, mentions extracted and matched (a person by
any joined form of the normalised name, a company by its name without the legal form, a phone by its
digits, a vehicle by its plate), extracted and unmatched, and carried but missed; and how many of the
carried mentions the text spells out at all (the most a text reader could find).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from smartcustoms.core.evaluation import Tally
from smartcustoms.plugins.crime import TEXT_FIELDS, with_entities
from smartcustoms.plugins.crime.entities import Mention, mentions_of
from smartcustoms.plugins.crime.resolve import name_forms, name_tokens, phone_key, plate_key
from smartcustoms.plugins.crime.store import StoredRecord

__all__ = ["TEXT_KINDS", "TYPES", "ExtractionCounts", "TypeCounts", "extraction_counts", "text_only"]

TEXT_KINDS = frozenset({"news_item", "social_post"})
TYPES = ("Person", "Company", "Phone", "Vehicle")


@dataclass
class TypeCounts(Tally):
    in_text: int = 0  # carried mentions the text spells out

    def merge(self, other: Tally) -> None:
        super().merge(other)
        self.in_text += other.in_text if isinstance(other, TypeCounts) else 0


@dataclass
class ExtractionCounts:
    records: int = 0
    types: dict[str, TypeCounts] = field(default_factory=lambda: {t: TypeCounts() for t in TYPES})

    def merge(self, other: ExtractionCounts) -> None:
        self.records += other.records
        for name, counts in other.types.items():
            self.types.setdefault(name, TypeCounts()).merge(counts)


def text_only(records: Sequence[StoredRecord]) -> list[StoredRecord]:
    """The records with the entities of news and posts stripped."""
    return [
        StoredRecord(r.record_id, r.kind, {k: v for k, v in r.fields.items() if k != "entities"})
        if r.kind in TEXT_KINDS
        else r
        for r in records
    ]


# an item: (type, keys it matches on, its text as written)
Item = tuple[str, frozenset[str], str]


def items_of(mentions: Iterable[Mention]) -> list[Item]:
    items: list[Item] = []
    for m in mentions:
        name = m.first("name")
        if m.schema == "Person" and name:
            items.append(("Person", frozenset(name_forms(name_tokens(name, "Person"))), name))
        elif m.schema in ("Company", "Organization") and name:
            items.append(("Company", frozenset({"".join(name_tokens(name, m.schema))}), name))
        elif m.schema == "Vehicle" and (plate := plate_key(m.first("registrationNumber"))):
            items.append(("Vehicle", frozenset({plate}), plate))
        items += [("Phone", frozenset({key}), key) for p in m.values("phone") if (key := phone_key(p))]
    unique: dict[tuple[str, frozenset[str]], Item] = {(t, k): (t, k, s) for t, k, s in items}
    return list(unique.values())


def _spelt_out(text: str) -> Callable[[Item], bool]:
    lowered, digits, bare = text.lower(), re.sub(r"\D", "", text), re.sub(r"\s", "", text.upper())

    def spelt(item: Item) -> bool:
        kind, _, written = item
        if kind == "Phone":
            return written in digits
        if kind == "Vehicle":
            return written in bare
        return written.lower() in lowered

    return spelt


def score_record(truth: Sequence[Item], found: Sequence[Item], text: str) -> dict[str, TypeCounts]:
    counts = {t: TypeCounts() for t in TYPES}
    unmatched = list(truth)
    for kind, keys, _ in found:
        match = next((t for t in unmatched if t[0] == kind and t[1] & keys), None)
        if match is None:
            counts[kind].fp += 1
        else:
            counts[kind].tp += 1
            unmatched.remove(match)
    spelt = _spelt_out(text)
    for item in truth:
        counts[item[0]].in_text += spelt(item)
    for kind, _, _ in unmatched:
        counts[kind].fn += 1
    return counts


def extraction_counts(stripped: Sequence[StoredRecord], records: Sequence[StoredRecord]) -> ExtractionCounts:
    """What the text of each stripped news item and post gives, against what its original carried."""
    carried = {r.record_id: r.fields.get("entities", "") for r in records}
    total = ExtractionCounts()
    for record in stripped:
        if record.kind not in TEXT_KINDS:
            continue
        total.records += 1
        read = with_entities(record.record_id, dict(record.fields))
        text = "\n".join(record.fields.get(name, "") for name in TEXT_FIELDS)
        truth = items_of(mentions_of(record.record_id, carried[record.record_id]))
        found = items_of(mentions_of(record.record_id, read.get("entities", "")))
        for kind, counts in score_record(truth, found, text).items():
            total.types[kind].merge(counts)
    return total
