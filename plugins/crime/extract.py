"""Entities named in the free text of news stories and posts, as FollowTheMoney mentions.

A feed that carries only text (an RSS news feed, a forum's posts) names no entities of its own; this
finds what a customs analyst would pick out by eye and what resolution can join on:

- phone numbers (Hong Kong's eight digits, with or without +852, and international numbers written
  with a ``+``), each as the ``phone`` of an entity whose holder the text does not name (``LegalEntity``)
  unless a person is named right before it ("ask Ah Keung 9123 4567");
- companies: English names ending in Limited, Ltd, Company, Co., Trading, Logistics, Holdings, Freight
  or Shipping, and Chinese names ending in 有限公司 or 公司;
- persons: a name after a title (Mr, Mrs, Ms, Miss, Madam), after "named" or "surnamed", or before an age
  ("Chan Tai-man, 45,", "Chan Tai-man, aged 45");
- vehicles: a Hong Kong registration mark after "registration", "plate" or "licence plate".

It is a pattern reader, not a language model: it misses names written in other shapes and can take a
capitalised phrase for a company. Its mentions resolve like any other (``resolve``), so a phone or a
company seen in a case file links the story to the case.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["entities_from_text"]

_HK_PHONE = re.compile(r"(?<![\d+])(?:\+?852[\s-]?)?([235679]\d{3})[\s-]?(\d{4})(?!\d)")
_INTL_PHONE = re.compile(r"(?<![\w+])\+(?!852)(\d{1,3})[\s-]?(\d{2,4})[\s-]?(\d{3,4})[\s-]?(\d{3,4})?(?!\d)")
_NAME = r"[A-Z][a-z]+(?:-[a-z]+)?(?:\s[A-Z][a-z]+(?:-[a-z]+)?){0,2}"
_TITLED = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Madam|Mdm)\.?\s({_NAME})")
_NAMED = re.compile(rf"\b(?:named|surnamed|called)\s({_NAME})")
_AGED = re.compile(rf"\b({_NAME}),\s(?:aged\s)?(\d{{2}})\b")
_ASK = re.compile(rf"\b(?:ask|call|contact|whatsapp|WhatsApp)\s({_NAME}),?\s*$")
_COMPANY_EN = re.compile(
    r"\b((?:[A-Z][\w&'.-]*\s){1,5}"
    r"(?:Limited|Ltd\.?|Company|Co\.|Trading|Logistics|Holdings|Freight|Shipping)(?:\s(?:Limited|Ltd\.?))?)"
)
_COMPANY_ZH = re.compile(r"([\u4e00-\u9fff]{2,20}(?:有限公司|公司))")
_PLATE = re.compile(
    r"\b(?:registration(?:\smark)?|licence\splate|license\splate|plate)[:\s]+([A-Z]{1,2}\s?\d{1,4})\b"
)
# Capitalised words that start sentences or name places, not people.
_NOT_NAMES = frozenset({"The", "Customs", "Hong", "Kong", "Police", "Court", "A", "An", "He", "She", "They"})


def _clean_company(name: str) -> str:
    words = name.split()
    while words and words[0] in _NOT_NAMES - {"Hong", "Kong"}:
        words = words[1:]
    return " ".join(words)


def entities_from_text(record_id: str, text: str) -> list[dict[str, Any]]:
    """FtM mentions (``{"id", "schema", "properties"}``) of what ``text`` names, ids ``<record_id>#x<n>``."""
    mentions: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(schema: str, key: str, properties: dict[str, list[str]]) -> dict[str, Any] | None:
        if (schema, key) in seen:
            return None
        seen.add((schema, key))
        mention = {"id": f"{record_id}#x{len(mentions)}", "schema": schema, "properties": properties}
        mentions.append(mention)
        return mention

    people: dict[str, dict[str, Any]] = {}
    for pattern in (_TITLED, _NAMED, _AGED):
        for match in pattern.finditer(text):
            name = match.group(1)
            if name.split()[0] in _NOT_NAMES or len(name) < 4:
                continue
            mention = add("Person", name.lower(), {"name": [name]})
            if mention is not None:
                people[name] = mention
    for match in _COMPANY_EN.finditer(text):
        name = _clean_company(match.group(1).strip())
        if len(name.split()) >= 2:
            add("Company", name.lower().rstrip("."), {"name": [name]})
    for match in _COMPANY_ZH.finditer(text):
        add("Company", match.group(1), {"name": [match.group(1)]})
    for match in _PLATE.finditer(text):
        plate = match.group(1).replace(" ", "")
        add("Vehicle", plate, {"registrationNumber": [plate]})
    international = [
        (m.span(), "+" + " ".join(g for g in m.groups() if g)) for m in _INTL_PHONE.finditer(text)
    ]
    phones = [(span[0], phone) for span, phone in international]
    phones += [
        (m.start(), f"{m.group(1)} {m.group(2)}")
        for m in _HK_PHONE.finditer(text)
        if not any(a <= m.start() < b for (a, b), _ in international)  # the tail of a foreign number
    ]
    for start, phone in sorted(phones):
        asked = _ASK.search(text[max(0, start - 60) : start])
        holder = people.get(asked.group(1)) if asked else None
        if holder is None and asked:
            holder = add("Person", asked.group(1).lower(), {"name": [asked.group(1)]})
            if holder is not None:
                people[asked.group(1)] = holder
        if holder is not None:
            holder["properties"].setdefault("phone", []).append(phone)
        else:
            add("LegalEntity", phone, {"phone": [phone]})
    return mentions
