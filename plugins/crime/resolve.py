"""Entity resolution: which mentions, across case files, news and posts, are one entity.

Addresses and vehicles resolve on a normalised key (abbreviations spelt out, punctuation and case
gone; a plate without its spaces). People, companies and organisations resolve in three steps, the way
record-linkage tools do it:

1. Normalise a name into tokens: accents folded, case and punctuation gone, titles (people) or legal
   forms (companies) dropped, and Mandarin pinyin surnames and syllables mapped to the Cantonese
   romanisation Hong Kong documents use (``ROMANISATION``).
2. Block: a name's forms (tokens as written, sorted, first token last, last token first; all joined
   without spaces so "Tai-man" and "Tai Man" agree) give keys of their first and last ``KEY_CHARS``
   letters; only mentions sharing a key are compared, and keys shared by more than ``MAX_BLOCK``
   mentions (the commonest names) are dropped.
3. Score each pair: the best normalised Indel similarity of their forms, plus or minus the evidence
   beside the name (same or different date of birth, the same phone, the same address), and join
   pairs at or above ``threshold`` (union-find).

``ExactNameResolver`` is the baseline: mentions with the same name, lower-cased and spaces collapsed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from .entities import PARTY_SCHEMATA, Mention

__all__ = [
    "ExactNameResolver",
    "Resolution",
    "Resolver",
    "address_key",
    "name_tokens",
    "phone_key",
    "plate_key",
]

KEY_CHARS = 8
MAX_BLOCK = 200
THRESHOLD = 0.82
# pinyin -> Cantonese romanisation of common surnames and given-name syllables
# fmt: off
ROMANISATION = {
    "chen": "chan", "huang": "wong", "li": "lee", "zhang": "cheung", "liu": "lau", "wu": "ng",
    "liang": "leung", "lin": "lam", "he": "ho", "zeng": "tsang", "ye": "yip", "guo": "kwok", "deng": "tang",
    "zheng": "cheng", "zhou": "chow", "xie": "tse", "feng": "fung", "mai": "mak", "cai": "choi", "lu": "lo",
    "yang": "yeung", "hu": "wu", "pan": "poon", "xiao": "siu", "da": "tai", "wen": "man", "yong": "wing",
    "zhi": "chi", "hao": "ho", "jia": "ka", "wei": "wai", "xin": "yan", "jian": "kin", "hui": "fai",
    "xiong": "hung", "zhen": "chun", "le": "lok", "jie": "kit", "shi": "sze", "pei": "pui", "kai": "hoi",
    "de": "tak", "yao": "yiu", "qi": "kei", "heng": "hang", "sen": "sum", "yu": "yuk", "hua": "wah",
    "qiang": "keung", "jun": "kwan", "zhuo": "cheuk", "tian": "tin", "yi": "yat", "xi": "sai",
    "xuan": "hin", "jin": "kam", "zhong": "chung", "bai": "pak", "sheng": "sing", "jing": "ching",
    "gui": "kwai", "nan": "nam", "bao": "bo",
}
# fmt: on
TITLES = frozenset(["mr", "mrs", "ms", "miss", "dr", "prof", "herr", "frau", "sir", "madam", "mme", "m"])
LEGAL_FORMS = frozenset(
    "limited ltd co company corp corporation inc llc plc hk gmbh ag se kg mbh bv b v sa srl the".split()  # noqa: SIM905  (a word list reads best as words)
)
# fmt: off
ADDRESS_WORDS = {
    "rd": "road", "st": "street", "bldg": "building", "blk": "block", "rm": "unit", "room": "unit",
    "flat": "unit", "ave": "avenue", "ctr": "centre", "center": "centre", "fl": "f", "floor": "f",
}
# fmt: on
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_FLOOR = re.compile(r"(\d+)\s*(?:/\s*f|(?:st|nd|rd|th)?\s+floor)\b")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("đ", "d").replace("Đ", "D")


def name_tokens(name: str, schema: str) -> tuple[str, ...]:
    """Tokens of a name, normalised for comparing (see the module docstring, step 1)."""
    words = _NON_WORD.sub(" ", _fold(name).lower().replace("&", " and ")).split()
    if schema == "Person":
        return tuple(ROMANISATION.get(w, w) for w in words if w not in TITLES)
    kept = tuple(w for w in words if w not in LEGAL_FORMS)
    return kept or tuple(words)


def name_forms(tokens: Sequence[str]) -> tuple[str, ...]:
    """The joined forms a name is compared in: as written, sorted, rotated either way."""
    if not tokens:
        return ()
    rotated = [list(tokens), sorted(tokens), [*tokens[1:], tokens[0]], [tokens[-1], *tokens[:-1]]]
    return tuple(dict.fromkeys("".join(t) for t in rotated))


def phone_key(phone: str) -> str:
    """Digits of a phone number, without Hong Kong's 852 (or 00852) in front of 8 digits."""
    digits = "".join(c for c in phone if c.isdigit())
    for prefix in ("00852", "852"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 8:
            return digits[len(prefix) :]
    return digits


def address_key(text: str) -> str:
    """An address with floors, abbreviations, punctuation and case normalised."""
    lowered = _FLOOR.sub(r"\1 f", _fold(text).lower())
    words = _NON_WORD.sub(" ", lowered).split()
    return " ".join(ADDRESS_WORDS.get(w, w) for w in words)


_MONTHS = {m: n for n, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}  # noqa: SIM905  (as above)


def date_key(text: str) -> str:
    """A date of birth as YYYY-MM-DD from ISO, D/M/Y (Hong Kong's order), Y/M/D or '3 Mar 1980'."""
    parts = re.findall(r"[a-z]+|\d+", text.lower())
    if len(parts) != 3:
        return text.strip()
    if parts[1][:3] in _MONTHS and parts[0].isdigit() and parts[2].isdigit():
        day, month, year = int(parts[0]), _MONTHS[parts[1][:3]], int(parts[2])
    elif all(p.isdigit() for p in parts):
        numbers = [int(p) for p in parts]
        day, month, year = (numbers[2], numbers[1], numbers[0]) if len(parts[0]) == 4 else numbers
    else:
        return text.strip()
    return f"{year:04d}-{month:02d}-{day:02d}"


def plate_key(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())


@dataclass
class Resolution:
    """Mention id -> entity id (the smallest mention id of its cluster), with the pairs compared."""

    entity_of: dict[str, str]
    compared_pairs: int = 0

    def clusters(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for mention_id, entity in self.entity_of.items():
            out[entity].append(mention_id)
        return dict(out)


class _UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def result(self) -> dict[str, str]:
        return {item: self.find(item) for item in self.parent}


@dataclass(frozen=True)
class _Party:
    mention: Mention
    group: str  # "person" or "organisation": only one group's mentions are compared
    forms: tuple[str, ...]
    birth_dates: frozenset[str]
    phones: frozenset[str]
    addresses: frozenset[str]  # resolved address keys

    @property
    def identity_marks(self) -> frozenset[str]:
        """What two mentions of one entity cannot disagree on (when both have it)."""
        return self.birth_dates if self.group == "person" else self.addresses


class Resolver:
    """Blocking, pairwise scoring and union-find (the module docstring)."""

    def __init__(self, threshold: float = THRESHOLD, max_block: int = MAX_BLOCK) -> None:
        self.threshold = threshold
        self.max_block = max_block

    def resolve(self, mentions: Sequence[Mention]) -> Resolution:
        keys = {m.mention_id: self.exact_key(m) for m in mentions}
        joined = _UnionFind(keys)
        by_key: dict[str, list[str]] = defaultdict(list)
        for mention_id, key in keys.items():
            if key:
                by_key[key].append(mention_id)
        for ids in by_key.values():
            for other in ids[1:]:
                joined.union(ids[0], other)
        address_of = {m.mention_id: keys[m.mention_id] for m in mentions if m.schema == "Address"}
        parties = [self._party(m, address_of) for m in mentions if m.schema in PARTY_SCHEMATA]
        parties = [p for p in parties if p.forms]
        pairs = self._candidate_pairs(parties)
        scored = [(self.score(parties[a], parties[b]), a, b) for a, b in pairs]
        # best pairs first; a pair is not joined if its clusters hold different dates of birth (people)
        # or registered addresses (organisations): a news mention without one does not chain two
        # namesakes together
        marks = {p.mention.mention_id: set(p.identity_marks) for p in parties}
        for _, a, b in sorted((s for s in scored if s[0] >= self.threshold), reverse=True):
            ra, rb = joined.find(parties[a].mention.mention_id), joined.find(parties[b].mention.mention_id)
            if ra == rb or (marks[ra] and marks[rb] and not marks[ra] & marks[rb]):
                continue
            joined.union(ra, rb)
            marks[min(ra, rb)] = marks[ra] | marks[rb]
        return Resolution(joined.result(), len(pairs))

    def exact_key(self, mention: Mention) -> str:
        """The key that alone makes two mentions one entity ('' for fuzzy-matched parties)."""
        if mention.schema == "Address":
            key = address_key(mention.first("full") or " ".join(mention.values("street")))
            return f"address:{key}" if key else ""
        if mention.schema == "Vehicle":
            plate = plate_key(mention.first("registrationNumber"))
            return f"vehicle:{plate}" if plate else ""
        return ""

    def _party(self, mention: Mention, address_of: dict[str, str]) -> _Party:
        group = "person" if mention.schema == "Person" else "organisation"
        forms: tuple[str, ...] = ()
        for name in mention.values("name")[:1]:
            tokens = name_tokens(name, mention.schema)
            # a person's name is written in any order; a company's words are its name
            forms = name_forms(tokens) if group == "person" else ("".join(tokens),)
        return _Party(
            mention,
            group,
            forms,
            frozenset(date_key(d) for d in mention.values("birthDate")),
            frozenset(filter(None, (phone_key(p) for p in mention.values("phone")))),
            frozenset(filter(None, (address_of.get(a, "") for a in mention.values("addressEntity")))),
        )

    def _candidate_pairs(self, parties: Sequence[_Party]) -> list[tuple[int, int]]:
        blocks: dict[str, list[int]] = defaultdict(list)
        for n, party in enumerate(parties):
            keys = {f"{party.group}<{form[:KEY_CHARS]}" for form in party.forms}
            keys |= {f"{party.group}>{form[-KEY_CHARS:]}" for form in party.forms}
            for key in keys:
                blocks[key].append(n)
        pairs: set[tuple[int, int]] = set()
        for members in blocks.values():
            if 1 < len(members) <= self.max_block:
                pairs.update(itertools.combinations(members, 2))
        return sorted(pairs)

    def score(self, a: _Party, b: _Party) -> float:
        """Name similarity in [0, 1], moved by the evidence beside the name."""
        similarity = max(Indel.normalized_similarity(x, y) for x in a.forms for y in b.forms)
        if a.birth_dates and b.birth_dates:
            similarity += 0.1 if a.birth_dates & b.birth_dates else -0.5
        if a.phones & b.phones:
            similarity += 0.15
        if a.addresses and b.addresses:
            if a.addresses & b.addresses:
                similarity += 0.1
            elif a.group == "organisation":  # a company seldom moves; people do
                similarity -= 0.15
        return similarity


class ExactNameResolver(Resolver):
    """The baseline: parties with the same name (lower case, spaces collapsed) are one."""

    def resolve(self, mentions: Sequence[Mention]) -> Resolution:
        def key(m: Mention) -> str:
            text = m.first("name") or m.first("full") or m.first("registrationNumber")
            text = " ".join(text.lower().split())
            return f"{m.schema}:{text}" if text else ""

        joined = _UnionFind(m.mention_id for m in mentions)
        first: dict[str, str] = {}
        for m in mentions:
            if k := key(m):
                joined.union(first.setdefault(k, m.mention_id), m.mention_id)
        return Resolution(joined.result())
