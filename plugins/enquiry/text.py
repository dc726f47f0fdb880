"""Questions as text: checked, their language told, and cut into the terms the index matches.

- ``check_question``: the bad inputs (empty, over-long, binary, a script the assistant does not read)
  each raise ``QuestionError`` with one line saying which.
- ``detect_language``: ``en``, ``zh-Hant``, ``zh-Hans`` or ``mixed`` (Chinese characters and English
  words together). Chinese is Traditional when converting it to Simplified changes it, Simplified when
  converting it to Traditional does; characters the same in both count as Traditional (Hong Kong's).
- ``Analyser``: terms of two kinds. Words: English words stemmed and corrected against the knowledge
  base's vocabulary (accents folded: "jamón" is "jamon"), Chinese cut by jieba after conversion to
  Simplified (jieba's dictionary is Simplified) with Cantonese words mapped to their written forms;
  synonyms add a canonical term;
  numbers without thousands commas, "200k" as 200000, and a large number in a question adds the
  currency concept. Characters: English character trigrams and Chinese character bigrams, which still
  match when a word is misspelt or cut differently; ``Terms.known_chars`` are the trigrams of English
  words the vocabulary knows, which the retrieval weighs less than a typo's.
- ``Analyser.out_of_scope``: the lexicon's out-of-scope patterns, matched as written (with a space
  where Chinese meets a Latin letter or digit) and with misspelt words corrected to the patterns' own
  words.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import jieba  # type: ignore[import-untyped]  # jieba ships no type hints
from opencc import OpenCC  # type: ignore[import-untyped]  # nor does opencc-python-reimplemented

MAX_QUESTION_CHARS = 500
EN = "en"
ZH_HANT = "zh-Hant"
ZH_HANS = "zh-Hans"
MIXED = "mixed"
ANSWER_LANGUAGES = (EN, ZH_HANT)
UNKNOWN_LANGUAGE = "the question is in a language the assistant does not read (English or Chinese)"

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Chinese characters (CJK ideographs and extensions)
_CJK = re.compile(f"[{_HAN}]")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9']*|\d+(?:[.,]\d+)*")
_FOREIGN_SCRIPTS = re.compile(
    r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0eff\u3040-\u30ff\uac00-\ud7af]"
)
_CONTROL_OK = {"\n", "\t", "\r"}
_SCRIPT_BOUNDARY = re.compile(f"(?<=[{_HAN}])(?=[a-z0-9])|(?<=[a-z0-9])(?=[{_HAN}])")
_AMOUNT = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)\s?(k|m)\b")  # "200k", "1.5 m": thousands, millions
LARGE_AMOUNT = 10_000  # a number in a question this large is a sum of money
LARGE_AMOUNT_CONCEPT = "currency"

jieba.setLogLevel(logging.WARNING)


class QuestionError(ValueError):
    """A question the assistant cannot take; the message says why in one line."""


def check_question(question: object, *, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question as clean text (NFKC, spaces collapsed), or QuestionError: not text or bytes that
    decode as UTF-8, empty, longer than ``max_chars``, holding control characters, or in no language
    the assistant reads (no English word and no Chinese character, or mostly another script)."""
    if isinstance(question, bytes | bytearray):
        try:
            question = bytes(question).decode("utf-8")
        except UnicodeDecodeError:
            raise QuestionError("the question is binary data, not UTF-8 text") from None
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co") and c not in _CONTROL_OK for c in question):
        raise QuestionError("the question holds control or binary characters")
    text = " ".join(unicodedata.normalize("NFKC", question).split())
    if not text:
        raise QuestionError("the question is empty")
    if len(text) > max_chars:
        raise QuestionError(f"the question is {len(text)} characters long, at most {max_chars} are read")
    foreign = len(_FOREIGN_SCRIPTS.findall(text))
    chinese = len(_CJK.findall(text))
    latin = sum(c.isascii() and c.isalpha() for c in text)
    if foreign > chinese + latin or (chinese == 0 and latin == 0):
        raise QuestionError(UNKNOWN_LANGUAGE)
    return text


@cache
def _converter(kind: str) -> OpenCC:
    return OpenCC(kind)


def to_simplified(text: str) -> str:
    return str(_converter("t2s").convert(text))


def fold_accents(text: str) -> str:
    """Latin letters without their accents ("jamón ibérico" as "jamon iberico", "crème" as "creme"), as
    the knowledge base and the concept map spell them; other scripts as they are."""
    if text.isascii():
        return text
    return "".join(_folded(c) if "\u00c0" <= c <= "\u024f" else c for c in text)


@cache
def _folded(char: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)) or char


def to_traditional(text: str) -> str:
    return str(_converter("s2t").convert(text))


def detect_language(text: str) -> str:
    """``en``, ``zh-Hant``, ``zh-Hans`` or ``mixed`` for text ``check_question`` accepted."""
    han = "".join(_CJK.findall(text))
    english = [w for w in _LATIN_WORD.findall(text.lower()) if not w[0].isdigit()]
    if not han:
        return EN
    if english and len("".join(english)) >= 2:
        return MIXED
    if to_simplified(han) != han:
        return ZH_HANT
    if to_traditional(han) != han:
        return ZH_HANS
    return ZH_HANT


def answer_language(detected: str) -> str:
    """English questions are answered in English, any Chinese (and mixed) in Traditional Chinese."""
    return EN if detected == EN else ZH_HANT


@dataclass(frozen=True)
class Lexicon:
    """What the analyser knows beyond the text: stop words, Cantonese to written Chinese, the concept map
    (synonyms) and the out-of-scope patterns.

    ``synonyms`` maps a term (English stem or Simplified Chinese word) to the canonical terms it adds;
    ``phrases`` maps an English phrase of several words ("knock off", "nothing to declare") to the
    canonical terms it adds. ``out_of_scope`` pairs a name with patterns (regular expressions over the
    question lowercased and in Simplified Chinese) of questions no entry answers: money changers,
    visas, transport, other countries' allowances.
    """

    stop_words: frozenset[str] = frozenset()
    cantonese: Mapping[str, str] = field(default_factory=dict)
    split_prefixes: frozenset[str] = frozenset()
    goods_chars: frozenset[str] = frozenset()
    words_zh: tuple[str, ...] = ()
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    out_of_scope: tuple[tuple[str, re.Pattern[str]], ...] = ()


@dataclass(frozen=True)
class Terms:
    words: list[str]  # the question's own words, then the canonical terms the concept map adds
    chars: list[str]
    plain: tuple[str, ...] = ()  # the question's own words alone
    concepts: tuple[str, ...] = ()  # the words with each the concept map knows replaced by its canonical
    known_chars: frozenset[str] = frozenset()  # trigrams only of English words the vocabulary knows


def stem(word: str) -> str:
    """A light English stemmer: plurals and the commonest endings ("shipped" and "shipping" -> "ship")."""
    word = word.strip("'-").removesuffix("'s")
    if len(word) <= 3:
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return _without_e(_undoubled(word[: -len(suffix)] + replacement))
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return _without_e(word)


def _undoubled(word: str) -> str:
    """ "shipp" (from "shipped") becomes "ship"; "fill", "pass" and "buzz" keep their double letter."""
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouylsz":
        return word[:-1]
    return word


def _without_e(word: str) -> str:
    """ "declare", "declared" and "declaring" all become "declar"."""
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def edit_distance(a: str, b: str, limit: int, *, substitution: int = 1) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap two neighbours), or
    ``limit + 1`` as soon as it must exceed ``limit``; ``substitution`` is the cost of changing a letter
    (2: only as a deletion and an insertion)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else substitution
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


class Analyser:
    """Cuts text into word and character terms; ``vocabulary`` (set by the index) corrects typos."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.vocabulary: frozenset[str] = frozenset()
        self._by_length: dict[int, list[str]] = {}
        self._pattern_words = _words_of_patterns(pattern for _, pattern in lexicon.out_of_scope)
        self._pattern_words_by_length: dict[int, list[str]] = {}
        for word in sorted(self._pattern_words):
            self._pattern_words_by_length.setdefault(len(word), []).append(word)
        _add_words(
            (*self.lexicon.cantonese, *self.lexicon.cantonese.values(), *self.lexicon.words_zh),
            (term for term in self.lexicon.synonyms if _CJK.search(term)),
        )

    def set_vocabulary(self, words: Iterable[str]) -> None:
        """The English words typos are corrected to: the knowledge base's and the concept map's."""
        known = {w for w in words if w.isascii()} | {w for w in self.lexicon.synonyms if w.isascii()}
        self.vocabulary = frozenset(w for w in known if w.isalpha())
        self._by_length = {}
        for word in sorted(self.vocabulary):
            self._by_length.setdefault(len(word), []).append(word)

    def terms(self, text: str, *, correct: bool = False) -> Terms:
        lowered = to_simplified(fold_accents(text.lower()))
        for spoken, written in self.lexicon.cantonese.items():
            lowered = lowered.replace(spoken, written)
        words: list[str] = []
        chars: list[str] = []
        known: set[str] = set()
        unknown: set[str] = set()
        for chunk in re.split(r"([\u3400-\u9fff\uf900-\ufaff]+)", lowered):
            if _CJK.match(chunk):
                words += self._chinese_words(chunk)
                chars += [*chunk, *_bigrams(chunk)] if len(chunk) > 1 else [chunk]
            else:
                for raw in _LATIN_WORD.findall(_AMOUNT.sub(_amount, chunk)):
                    word = raw.replace(",", "") if raw[0].isdigit() else stem(raw)
                    if not word or word in self.lexicon.stop_words:
                        continue
                    if correct and word not in self.lexicon.synonyms:
                        word = self.correct(word)
                    words.append(word)
                    trigrams = _trigrams(word)
                    chars += trigrams
                    (known if word in self.vocabulary else unknown).update(trigrams)
        added = self._expanded(words) + self._phrase_terms(lowered)
        if correct and any(w.isdigit() and int(w) >= LARGE_AMOUNT for w in words):
            added.append(LARGE_AMOUNT_CONCEPT)  # "100k each", "carrying 150000": a sum of money
        unmapped = [w for w in words if w not in self.lexicon.synonyms]
        return Terms(words + added, chars, tuple(words), tuple(unmapped + added), frozenset(known - unknown))

    def _chinese_words(self, chunk: str) -> list[str]:
        words = []
        for word in jieba.cut_for_search(chunk):
            if not word.strip() or word in self.lexicon.stop_words:
                continue
            words.append(word)
            if len(word) == 2 and word[0] in self.lexicon.split_prefixes:
                words.append(word[1])
            elif len(word) == 2 and word not in self.lexicon.synonyms:
                # a kind of goods jieba glued to a neighbour ("酒都" out of "酒都装在") is still said
                words += [c for c in (word[0], word[1]) if c in self.lexicon.goods_chars]
        return words

    def reads_english(self, text: str) -> bool:
        """Whether Latin-letter text reads as English the assistant knows: one of its words is a stop
        word or a word of the knowledge base (or a synonym of one), or two are close to such words.
        "Combien ?" is not English; "cigarete allowence" is."""
        close = 0
        for raw in _LATIN_WORD.findall(text.lower()):
            word = stem(raw)
            if not word.isalpha():
                continue
            if word in self.lexicon.stop_words or word in self.lexicon.synonyms or word in self.vocabulary:
                return True
            close += self.correct(word) in self.vocabulary
        return close >= 2

    def correct(self, word: str) -> str:
        """The vocabulary's closest word to an unknown English word of 5 letters or more: one edit away
        (a letter dropped, added, changed, or two swapped), two for words of 7 letters or more; the
        longest shared beginning breaks a tie."""
        if word in self.vocabulary or len(word) < 5 or not word.isalpha():
            return word
        return _closest(word, self._by_length, 2 if len(word) >= 7 else 1) or word

    def _expanded(self, words: Sequence[str]) -> list[str]:
        return [canonical for w in words for canonical in self.lexicon.synonyms.get(w, ()) if canonical != w]

    def _phrase_terms(self, lowered: str) -> list[str]:
        """The canonical terms of the concept map's phrases found in the text (stemmed, whole words)."""
        if not self.lexicon.phrases:
            return []
        spaced = " " + " ".join(stem(w) for w in _LATIN_WORD.findall(lowered)) + " "
        return [t for phrase, terms in self.lexicon.phrases.items() if f" {phrase} " in spaced for t in terms]

    def out_of_scope(self, text: str) -> str:
        """The name of the first out-of-scope pattern the question matches, or "": as written, then with
        its misspelt English words corrected to the patterns' own words ("fligt delayed", "exchnge rate
        todaay" match as "flight delayed" and "exchange rate today" do)."""
        lowered = _spaced(to_simplified(fold_accents(" ".join(text.lower().split()))))
        corrected = _LATIN_WORD.sub(lambda m: self._pattern_word(m.group()), lowered)
        for candidate in (lowered, corrected) if corrected != lowered else (lowered,):
            for name, pattern in self.lexicon.out_of_scope:
                if pattern.search(candidate):
                    return name
        return ""

    def _pattern_word(self, raw: str) -> str:
        """An English word the knowledge base does not know, corrected to the closest word the
        out-of-scope patterns name (the same edit limits as ``correct``, but a changed letter counts two:
        "hiding" is a word, not a typo of "hiring"), or the word itself."""
        if (
            len(raw) < 5
            or not raw.isalpha()
            or raw in self._pattern_words
            or stem(raw) in self.lexicon.stop_words  # a word, not a typo ("whether" is not "weather")
            or stem(raw) in self.vocabulary
        ):
            return raw
        by_length = self._pattern_words_by_length
        return _closest(raw, by_length, 2 if len(raw) >= 7 else 1, substitution=2) or raw


def _spaced(text: str) -> str:
    """A space wherever Chinese meets a Latin letter or digit, so that "个job" holds the word "job"
    for a pattern's ``\\b`` (Chinese characters are word characters to ``re``)."""
    return _SCRIPT_BOUNDARY.sub(" ", text)


def _add_words(*groups: Iterable[str]) -> None:
    """Teach jieba (whose dictionary is one per process) the words it does not know yet. A word is
    never added twice: jieba gives an added word a frequency suggested by the dictionary as it stands,
    so adding the same words again (a second assistant in the process) would cut text differently."""
    jieba.dt.check_initialized()
    for group in groups:
        for word in group:
            if not jieba.dt.FREQ.get(word):
                jieba.add_word(word)


def _closest(word: str, by_length: Mapping[int, Sequence[str]], limit: int, *, substitution: int = 1) -> str:
    """The word of ``by_length`` (words by their length) fewest edits from ``word``, at most ``limit``;
    the longest shared beginning breaks a tie. "" when none is that close."""
    best, best_key = "", (limit + 1, 0)
    for length in range(len(word) - limit, len(word) + limit + 1):
        for candidate in by_length.get(length, ()):
            distance = edit_distance(word, candidate, limit, substitution=substitution)
            if distance <= limit:
                key = (distance, -_shared_prefix(word, candidate))
                if key < best_key:
                    best, best_key = candidate, key
    return best


def _words_of_patterns(patterns: Iterable[re.Pattern[str]]) -> frozenset[str]:
    """The English words of 4 letters or more written in regular expressions (escapes such as \\b
    removed first)."""
    words: set[str] = set()
    for pattern in patterns:
        words.update(re.findall(r"[a-z]{4,}", re.sub(r"\\[a-zA-Z]", " ", pattern.pattern)))
    return frozenset(words)


def _amount(match: re.Match[str]) -> str:
    """ "200k" as "200000", "1.5m" as "1500000"."""
    scale = 1_000 if match.group(2) == "k" else 1_000_000
    return str(round(float(match.group(1)) * scale))


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _bigrams(chunk: str) -> list[str]:
    return [chunk] if len(chunk) == 1 else [chunk[i : i + 2] for i in range(len(chunk) - 1)]


def _trigrams(word: str) -> list[str]:
    padded = f"#{word}#"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]
