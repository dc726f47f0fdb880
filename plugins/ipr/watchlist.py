"""Brand and keyword watchlists in English and Chinese: which watched brand a listing's text names, how
plainly, and which words in it announce a copy.

English: a brand name found as a word is ``exact``; found only once spaces, punctuation and digits
standing for letters (0 for o, 1 for l, ...) are taken out, or within one edit of a word of the text,
it is ``fuzzy`` (counterfeiters write "Au relia", "Aurellia", "Ve1ox"). Chinese: the text is segmented
by forward maximum matching over the watchlist's own lexicon (brand names, goods, copy words,
negations: the dictionary-driven segmentation jieba does, without jieba's 350,000-word general
dictionary, which took seconds to load and a fifth of a millisecond a listing here); a name that is one
of the segments
or a run of the text with spaces removed is ``exact``; a run of the text one character away from a name
of three or more characters is ``fuzzy`` ("奥瑞莉亞"). A copy word right after a negation ("not a
replica", "不是高仿") does not count.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BrandEntry", "TextMatch", "Watchlist", "load_watchlist"]

DEFAULT_WATCHLIST = Path(__file__).with_name("watchlist.toml")
_DELEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "$": "s", "@": "a"})
_CJK = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[a-z0-9:]+")


@dataclass(frozen=True)
class BrandEntry:
    key: str
    en: tuple[str, ...]
    zh: tuple[str, ...]
    goods: tuple[str, ...]
    price_low_hkd: float
    price_high_hkd: float


@dataclass(frozen=True)
class TextMatch:
    brand: str = ""  # key of the brand named, "" if none
    how: str = ""  # "exact" or "fuzzy"
    strong_words: tuple[str, ...] = ()
    weak_words: tuple[str, ...] = ()
    negated_words: tuple[str, ...] = ()  # strong words the text denies


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


class Watchlist:
    def __init__(self, brands: Sequence[BrandEntry], words: Mapping[str, Sequence[str]]) -> None:
        self.brands = {b.key: b for b in brands}
        self.strong_en = tuple(_normal(w) for w in words.get("strong_en", ()))
        self.strong_zh = tuple(_normal(w) for w in words.get("strong_zh", ()))
        self.weak_en = tuple(_normal(w) for w in words.get("weak_en", ()))
        self.weak_zh = tuple(_normal(w) for w in words.get("weak_zh", ()))
        self.negations_en = frozenset(_normal(w) for w in words.get("negations_en", ()))
        self.negations_zh = tuple(words.get("negations_zh", ()))
        self._en = [(b.key, _normal(n)) for b in brands for n in b.en]
        self._en_compact = [(key, re.sub(r"[^a-z]", "", name)) for key, name in self._en]
        self._zh = [(b.key, n) for b in brands for n in b.zh]
        zh_goods = [_normal(w) for b in brands for w in (*b.zh, *b.goods) if _CJK.search(w)]
        self._negations_zh = frozenset(_normal(w) for w in self.negations_zh)
        self._lexicon = frozenset([*zh_goods, *self.strong_zh, *self.weak_zh, *self._negations_zh])
        self._longest = max(map(len, self._lexicon), default=1)
        self._fuzzy_words: dict[str, str] = {}  # word -> brand key or "": texts repeat their words

    def segment(self, normal: str) -> list[str]:
        """Forward maximum matching over the watchlist's lexicon: at each place the longest word of the
        lexicon that starts there, else one CJK character, else a run of letters and digits."""
        segments: list[str] = []
        i, n = 0, len(normal)
        while i < n:
            for length in range(min(self._longest, n - i), 1, -1):
                if normal[i : i + length] in self._lexicon:
                    segments.append(normal[i : i + length])
                    i += length
                    break
            else:
                word = _WORD.match(normal, i)
                if word:
                    segments.append(word.group())
                    i = word.end()
                else:
                    if not normal[i].isspace() and _CJK.match(normal, i):
                        segments.append(normal[i])
                    i += 1
        return segments

    def match(self, text: str) -> TextMatch:
        """The brand ``text`` names (the first found) and the copy words in it."""
        normal = _normal(text)
        brand, how = self._brand_en(normal)
        segments: list[str] = []
        if _CJK.search(normal):
            if any(w in normal for w in self.strong_zh):  # segments only matter around a copy word
                segments = self.segment(normal)
            if not brand:
                brand, how = self._brand_zh(normal)
        strong, negated = self._strong(normal, segments)
        weak = tuple(w for w in (*self.weak_en, *self.weak_zh) if w in normal)
        return TextMatch(brand, how, strong, weak, negated)

    def _brand_en(self, normal: str) -> tuple[str, str]:
        padded = f" {re.sub(r'[^a-z0-9]+', ' ', normal)} "
        for key, name in self._en:
            if f" {name} " in padded:
                return key, "exact"
        compact = re.sub(r"[^a-z]", "", normal.translate(_DELEET))
        for key, name in self._en_compact:
            if len(name) >= 5 and name in compact:
                return key, "fuzzy"
        for word in _WORD.findall(normal):
            if len(word) >= 4 and (key := self._fuzzy_word(word)):
                return key, "fuzzy"
        return "", ""

    def _fuzzy_word(self, word: str) -> str:
        """The brand ``word`` is one edit away from, remembered (a bounded number of words)."""
        known = self._fuzzy_words.get(word)
        if known is None:
            plain = word.translate(_DELEET)
            known = next(
                (k for k, name in self._en_compact if len(name) >= 5 and _within_one_edit(plain, name)), ""
            )
            if len(self._fuzzy_words) < 100_000:
                self._fuzzy_words[word] = known
        return known

    def _brand_zh(self, normal: str) -> tuple[str, str]:
        runs = "".join(_CJK.findall(normal))  # spaces out: "维 洛 斯" is the name as it is
        for key, name in self._zh:
            if name in runs:
                return key, "exact"
        for key, name in self._zh:
            n = len(name)
            if n < 3:
                continue
            for i in range(len(runs) - n + 1):
                if sum(x != y for x, y in zip(runs[i : i + n], name, strict=True)) == 1:
                    return key, "fuzzy"
        return "", ""

    def _strong(self, normal: str, segments: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        found: list[str] = []
        negated: list[str] = []
        for word in self.strong_en:
            at = normal.find(word)
            if at < 0:
                continue
            before = _WORD.findall(normal[:at])[-2:]
            (negated if self.negations_en.intersection(before) else found).append(word)
        strong_zh = set(self.strong_zh)
        for i, segment in enumerate(segments):
            if segment in strong_zh:
                denied = i > 0 and segments[i - 1] in self._negations_zh
                (negated if denied else found).append(segment)
        return tuple(found), tuple(negated)

    def keyword_hit(self, text: str) -> bool:
        """The baseline: any strong copy word anywhere in the text, negated or not."""
        normal = _normal(text)
        return any(w in normal for w in (*self.strong_en, *self.strong_zh))


def load_watchlist(path: Path | str = "") -> Watchlist:
    """The watchlist at ``path`` (TOML), or the one that comes with the plugin."""
    data = tomllib.loads(Path(path or DEFAULT_WATCHLIST).read_text(encoding="utf-8"))
    brands = [
        BrandEntry(
            key=str(b["key"]),
            en=tuple(b.get("en", ())),
            zh=tuple(b.get("zh", ())),
            goods=tuple(b.get("goods", ())),
            price_low_hkd=float(b["price_range_hkd"][0]),
            price_high_hkd=float(b["price_range_hkd"][1]),
        )
        for b in data.get("brands", ())
    ]
    if not brands:
        raise ValueError(f"watchlist {path or DEFAULT_WATCHLIST}: no [[brands]]")
    return Watchlist(brands, data.get("words", {}))
