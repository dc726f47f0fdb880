"""Entities as the FollowTheMoney model shapes them: ``{"id", "schema", "properties"}``.

A record (a case file, a news item, a social post) carries the entities it names in its ``entities``
field, as a JSON list of FtM entities (``Person``, ``Company``, ``Organization``, ``Address``,
``Vehicle``; phones are the ``phone`` property, addresses linked by ``addressEntity``). Each becomes a
``Mention``: one sighting of an entity in one record, before resolution says which sightings are one.
FtM JSON lines (the format of the followthemoney and nomenklatura tools) load the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["PARTY_SCHEMATA", "Mention", "load_ftm_lines", "mentions_of"]

log = logging.getLogger(__name__)
PARTY_SCHEMATA = frozenset({"Person", "Company", "Organization", "LegalEntity"})
KNOWN_SCHEMATA = PARTY_SCHEMATA | {"Address", "Vehicle"}


@dataclass(frozen=True)
class Mention:
    """One entity as one record names it."""

    mention_id: str
    schema: str
    properties: Mapping[str, tuple[str, ...]]
    record_id: str

    def first(self, prop: str) -> str:
        values = self.properties.get(prop, ())
        return values[0] if values else ""

    def values(self, prop: str) -> tuple[str, ...]:
        return self.properties.get(prop, ())


def _mention(raw: object, record_id: str) -> Mention | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("properties", {}), dict):
        return None
    mention_id, schema = str(raw.get("id", "")), str(raw.get("schema", ""))
    if not mention_id or not schema:
        return None
    properties = {
        str(k): tuple(str(v) for v in values if isinstance(v, str | int | float))
        for k, values in raw.get("properties", {}).items()
        if isinstance(values, list)
    }
    return Mention(mention_id, schema, properties, record_id)


def mentions_of(record_id: str, entities_json: str) -> list[Mention]:
    """The mentions in a record's ``entities`` field; malformed JSON or entities are skipped."""
    if not entities_json:
        return []
    try:
        raw = json.loads(entities_json)
    except ValueError:
        log.warning("crime: record %s has malformed entities", record_id)
        return []
    found = [_mention(item, record_id) for item in raw] if isinstance(raw, list) else []
    return [m for m in found if m is not None]


def load_ftm_lines(lines: Iterable[str]) -> list[Mention]:
    """FtM entities, one JSON object a line; each is its own record (the entity's id)."""
    mentions = []
    for line in lines:
        if not line.strip():
            continue
        try:
            mention = _mention(json.loads(line), "")
        except ValueError:
            continue
        if mention is not None:
            mentions.append(
                Mention(mention.mention_id, mention.schema, mention.properties, mention.mention_id)
            )
    return mentions
