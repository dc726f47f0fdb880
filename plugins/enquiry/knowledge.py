"""The knowledge base: answers in English and Traditional Chinese, each with its source section.

One TOML file per section of the public enquiry topics in ``knowledge_base/`` (``section_en``,
``section_zh`` and ``[[entry]]`` tables with ``id``, ``questions_en``, ``questions_zh``, ``answer_en``,
``answer_zh``), and ``lexicon.toml`` (stop words, Cantonese, synonyms). Answers are templates whose
``{names}`` are filled from ``facts.facts()`` when the base loads, so figures are never typed twice;
a template naming an unknown figure is an error at load time. ``version`` is a hash of the files.
"""

from __future__ import annotations

import hashlib
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from smartcustoms.plugins.enquiry.facts import facts
from smartcustoms.plugins.enquiry.text import EN, ZH_HANT, Lexicon, stem

LEXICON_FILE = "lexicon.toml"


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
class KnowledgeBase:
    entries: tuple[Entry, ...]
    lexicon: Lexicon
    version: str

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
    for path in sorted(folder.glob("*.toml")):
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        document = _parse(path, raw)
        if path.name == LEXICON_FILE:
            lexicon = _lexicon(document)
        else:
            entries += _section(path, document, figures)
    ids = [e.entry_id for e in entries]
    if len(set(ids)) != len(ids):
        raise KnowledgeError(f"{folder}: entry ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    if not entries:
        raise KnowledgeError(f"{folder}: no knowledge base entries")
    return KnowledgeBase(tuple(entries), lexicon, digest.hexdigest()[:16])


def knowledge_topics(folder: Path | str | None = None) -> tuple[str, ...]:
    """The topics of the knowledge base's entries, read from the files without building an index."""
    return load_knowledge(folder).topics


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
    for group in document.get("synonym", []):
        canonical = _term(str(group["canonical"]))
        for term in _terms(group.get("terms", [])):
            if canonical not in synonyms.get(term, ()):
                synonyms[term] = (*synonyms.get(term, ()), canonical)
    ordered = dict(sorted(cantonese.items(), key=lambda item: -len(item[0])))
    return Lexicon(
        frozenset(stop),
        ordered,
        frozenset(document.get("split_prefixes_zh", [])),
        tuple(document.get("words_zh", [])),
        synonyms,
    )


def _term(text: str) -> str:
    return text if not text.isascii() else stem(text.lower())


def _terms(texts: Sequence[str]) -> list[str]:
    return [_term(str(t)) for t in texts]


__all__ = ["EN", "ZH_HANT", "Entry", "KnowledgeBase", "KnowledgeError", "load_knowledge"]
