"""The knowledge base: answers in English and Traditional Chinese, each with its source section.

One TOML file per section of the public enquiry topics in ``knowledge_base/`` (``section_en``,
``section_zh`` and ``[[entry]]`` tables with ``id``, ``questions_en``, ``questions_zh``, ``answer_en``,
``answer_zh``), and ``lexicon.toml`` (stop words, Cantonese, synonyms). Answers are templates whose
``{names}`` are filled from ``facts.facts()`` when the base loads, so figures are never typed twice;
a template naming an unknown figure is an error at load time. ``version`` is a hash of the files.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from smartcustoms.plugins.enquiry.facts import facts
from smartcustoms.plugins.enquiry.text import EN, ZH_HANT, Lexicon, stem

LEXICON_FILE = "lexicon.toml"
CONFIDENCE_FILE = "confidence.toml"  # the confidence's weights, fitted by tools/calibrate.py
SCOPE_FILE = "scope.toml"  # the scope model's weights and gate, fitted by tools/calibrate.py --scope


class KnowledgeError(ValueError):
    """A knowledge base file that cannot be read or is incomplete; the message names file and entry."""


@dataclass(frozen=True)
class Entry:
    entry_id: str
    section_en: str
    section_zh: str
    questions_en: tuple[str, ...]
    questions_zh: tuple[str, ...]
    answer_en: str
    answer_zh: str

    @property
    def topic(self) -> str:
        """The entry's topic for analytics: its id's first part ("allowance", "currency", ...)."""
        return self.entry_id.split("-", 1)[0]

    def answer(self, language: str) -> str:
        return self.answer_en if language == EN else self.answer_zh

    def source(self, language: str) -> str:
        return self.section_en if language == EN else self.section_zh

    def question_text(self) -> str:
        return "\n".join([*self.questions_en, *self.questions_zh])

    def text(self) -> str:
        """Everything the index reads about the entry."""
        parts = [*self.questions_en, *self.questions_zh, self.answer_en, self.answer_zh]
        return "\n".join([*parts, self.section_en, self.section_zh])


@dataclass(frozen=True)
class ScopeModel:
    """Whether a question is one the knowledge base is for: a logistic model over the question's
    multilingual sentence embedding, fitted on the tuning sets' answerable and must-hand-over questions.
    Below ``gate`` a question is handed over, as one an out-of-scope pattern names is."""

    bias: float
    weights: tuple[float, ...]
    gate: float

    def probability(self, vector: Iterable[float]) -> float:
        z = self.bias + math.fsum(w * float(v) for w, v in zip(self.weights, vector, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    lexicon: Lexicon
    version: str
    confidence_weights: Mapping[str, float] = field(default_factory=dict)  # empty: the retrieval's own
    scope: ScopeModel | None = None  # None: only the out-of-scope patterns hand questions over

    def entry(self, entry_id: str) -> Entry:
        for entry in self.entries:
            if entry.entry_id == entry_id:
                return entry
        raise KeyError(entry_id)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({e.topic for e in self.entries}))


def default_folder() -> Path:
    return Path(str(resources.files("smartcustoms.plugins.enquiry") / "knowledge_base"))


def load_knowledge(folder: Path | str | None = None) -> KnowledgeBase:
    """Every section file in ``folder`` (default: the package's ``knowledge_base/``), templates filled."""
    folder = Path(folder) if folder else default_folder()
    figures = facts()
    digest = hashlib.sha256()
    entries: list[Entry] = []
    lexicon = Lexicon()
    weights: dict[str, float] = {}
    scope: ScopeModel | None = None
    for path in sorted(folder.glob("*.toml")):
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        document = _parse(path, raw)
        if path.name == LEXICON_FILE:
            lexicon = _lexicon(document)
        elif path.name == CONFIDENCE_FILE:
            weights = {str(k): float(v) for k, v in document.get("weights", {}).items()}
        elif path.name == SCOPE_FILE:
            scope = _scope(path, document)
        else:
            entries += _section(path, document, figures)
    ids = [e.entry_id for e in entries]
    if len(set(ids)) != len(ids):
        raise KnowledgeError(f"{folder}: entry ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    if not entries:
        raise KnowledgeError(f"{folder}: no knowledge base entries")
    return KnowledgeBase(tuple(entries), lexicon, digest.hexdigest()[:16], weights, scope)


def knowledge_topics(folder: Path | str | None = None) -> tuple[str, ...]:
    """The topics of the knowledge base's entries, read from the files without building an index."""
    return load_knowledge(folder).topics


def _scope(path: Path, document: Mapping[str, Any]) -> ScopeModel:
    table = document.get("scope", {})
    try:
        weights = tuple(float(w) for w in table["weights"])
        model = ScopeModel(float(table["bias"]), weights, float(table["gate"]))
    except (KeyError, TypeError, ValueError) as error:
        raise KnowledgeError(f"{path}: [scope] needs bias, weights and gate ({error!r})") from None
    if not 0.0 <= model.gate < 1.0:
        raise KnowledgeError(f"{path}: the scope gate must be in [0, 1), not {model.gate}")
    return model


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise KnowledgeError(f"{path}: not valid TOML ({error})") from None


def _section(path: Path, document: Mapping[str, Any], figures: Mapping[str, str]) -> list[Entry]:
    section_en, section_zh = document.get("section_en"), document.get("section_zh")
    if not section_en or not section_zh:
        raise KnowledgeError(f"{path}: section_en and section_zh are required")
    entries = []
    for number, table in enumerate(document.get("entry", []), start=1):
        where = f"{path.name}: entry {table.get('id') or number}"
        missing = [
            k for k in ("id", "questions_en", "questions_zh", "answer_en", "answer_zh") if not table.get(k)
        ]
        if missing:
            raise KnowledgeError(f"{where} has no {', '.join(missing)}")
        entries.append(
            Entry(
                entry_id=str(table["id"]),
                section_en=str(section_en),
                section_zh=str(section_zh),
                questions_en=tuple(map(str, table["questions_en"])),
                questions_zh=tuple(map(str, table["questions_zh"])),
                answer_en=_render(table["answer_en"], figures, where),
                answer_zh=_render(table["answer_zh"], figures, where),
            )
        )
    return entries


def template_names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _render(template: str, figures: Mapping[str, str], where: str) -> str:
    unknown = sorted(template_names(template) - set(figures))
    if unknown:
        raise KnowledgeError(f"{where} names unknown figures: {', '.join(unknown)}")
    return template.format_map(figures)


def _lexicon(document: Mapping[str, Any]) -> Lexicon:
    stop = {stem(w.lower()) for w in document.get("stop_words_en", [])}
    stop |= set(document.get("stop_words_zh", []))
    cantonese: Mapping[str, str] = document.get("cantonese", {})
    synonyms: dict[str, tuple[str, ...]] = {}
    phrases: dict[str, tuple[str, ...]] = {}
    for group in document.get("synonym", []):
        canonical = _canonical(str(group["canonical"]))
        for raw in map(str, group.get("terms", [])):
            phrase = _phrase(raw)
            table, key = (phrases, phrase) if phrase else (synonyms, _term(raw))
            table[key] = (*table.get(key, ()), *(c for c in canonical if c not in table.get(key, ())))
    ordered = dict(sorted(cantonese.items(), key=lambda item: -len(item[0])))
    return Lexicon(
        frozenset(stop),
        ordered,
        frozenset(document.get("split_prefixes_zh", [])),
        frozenset(document.get("goods_chars_zh", [])),
        tuple(document.get("words_zh", [])),
        synonyms,
        phrases,
        tuple(_out_of_scope(group) for group in document.get("out_of_scope", [])),
    )


def _term(text: str) -> str:
    return text if not text.isascii() else stem(text.lower())


def _canonical(text: str) -> tuple[str, ...]:
    """A canonical term, or several for a phrase ("24 hour" adds "24" and "hour")."""
    return tuple(_term(word) for word in text.split())


def _phrase(text: str) -> str:
    """An English term of several words ("knock off", "e-cig") as its stemmed words; "" for one word."""
    if not text.isascii():
        return ""
    words = _PHRASE_WORD.findall(text.lower())
    return " ".join(stem(w) for w in words) if len(words) > 1 else ""


_PHRASE_WORD = re.compile(r"[a-z][a-z0-9']*|\d+(?:[.,]\d+)*")


def _out_of_scope(group: Mapping[str, Any]) -> tuple[str, re.Pattern[str]]:
    name, patterns = str(group.get("name", "")), [str(p) for p in group.get("patterns", [])]
    if not name or not patterns:
        raise KnowledgeError(f"{LEXICON_FILE}: an out_of_scope group needs a name and patterns")
    try:
        return name, re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error as error:
        raise KnowledgeError(f"{LEXICON_FILE}: out_of_scope {name}: bad pattern ({error})") from None


__all__ = ["EN", "ZH_HANT", "Entry", "KnowledgeBase", "KnowledgeError", "load_knowledge"]
