"""Plate formats, and reading a plate out of the recogniser's per-step probabilities.

Hong Kong: two letters (no I, O or Q) then 1 to 9999 without a leading zero: "AB1234". Guangdong
cross-boundary: 粤Z, four letters (no I or O) or digits, 港; its normalised form is always "粤ZAB12港",
whether or not the Chinese characters were read. A read is normalised upper case without spaces.

Decoding: the greedy CTC path gives the characters read, each with its probability vector (at its
most confident step). Separators (space, "·", "-", ".") and stray punctuation are dropped. Then each
format that fits the number of characters picks, at every position, the most probable character that
the position allows: a "0" read where a letter must stand becomes the letter the model found next most
likely ("D", never "O", which no HK plate carries), an "O" where a digit must stand becomes "0", an "I"
"1", and so on, by the model's own probabilities rather than a fixed table. A plate's confidence is
the smallest probability among its chosen characters: one doubtful character makes a doubtful plate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

HK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
GD_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ" + DIGITS
GD_PREFIX, GD_SUFFIX = "\u7ca4", "\u6e2f"  # 粤 (Guangdong), 港 (Hong Kong)
REGIONS = ("HK", "GD")
HK_PATTERN = re.compile(r"^[A-HJ-NPR-Z]{2}[1-9][0-9]{0,3}$")
GD_PATTERN = re.compile(rf"^{GD_PREFIX}Z[A-HJ-NP-Z0-9]{{4}}{GD_SUFFIX}$")
SEPARATORS = frozenset(" ·•.-_:|'\"`,;。・")
# Characters a plate font prints alike: a read of the first where the format needs the second keeps
# this share of the model's certainty (both ways round). O/0 and I/1 are the same shape on a plate.
_LOOK_ALIKE_CREDIT = {
    "O0": 0.9,
    "I1": 0.9,
    "Q0": 0.7,
    "D0": 0.7,
    "Z2": 0.6,
    "Z7": 0.6,
    "T7": 0.6,
    "S5": 0.6,
    "B8": 0.6,
    "G6": 0.6,
}
LOOK_ALIKES = {
    pair: credit
    for chars, credit in _LOOK_ALIKE_CREDIT.items()
    for pair in ((chars[0], chars[1]), (chars[1], chars[0]))
}
CJK_MIN_PROBABILITY = 0.3
# Confidence kept by a Guangdong read whose 粤 (front) or 港 (back) came out as a letter or digit, dropped:
# 港 is often read as 8 or 0 on a small plate, a misread 粤 is rarer.
GD_DROPPED = {"front": 0.5, "back": 0.8}  # a Chinese character read at least this surely counts as seen


@dataclass(frozen=True)
class Candidate:
    """A plate a text line can be read as: normalised text, region, confidence, what was read."""

    plate: str
    region: str
    confidence: float
    raw_text: str
    corrections: int  # positions where the format overruled the model's first choice


@dataclass(frozen=True)
class Symbol:
    """One character of the greedy CTC path: its probabilities over the model's characters."""

    char: str
    probabilities: np.ndarray


def valid(plate: str) -> str | None:
    """The region of a normalised plate ("HK" or "GD"), or None when it fits neither format."""
    if HK_PATTERN.match(plate):
        return "HK"
    if GD_PATTERN.match(plate):
        return "GD"
    return None


def normalise(text: str) -> str:
    """Upper case, without separators or spaces."""
    return "".join(c for c in text.upper() if c not in SEPARATORS and not c.isspace())


def greedy_symbols(probabilities: np.ndarray, characters: Sequence[str]) -> list[Symbol]:
    """The greedy CTC path: runs of one argmax collapsed, blanks (index 0) dropped."""
    best = probabilities.argmax(axis=1)
    symbols, previous = [], 0
    for step, index in enumerate(best):
        if index != 0 and index != previous:
            symbols.append(Symbol(characters[index], probabilities[step]))
        elif index != 0 and probabilities[step, index] > symbols[-1].probabilities[index]:
            symbols[-1] = Symbol(characters[index], probabilities[step])
        previous = index
    return symbols


class PlateDecoder:
    """Reads plates from per-step probabilities over the recogniser's ``characters``."""

    def __init__(self, characters: Sequence[str]) -> None:
        index = {c: i for i, c in enumerate(characters) if c}
        missing = [c for c in HK_LETTERS + GD_CHARACTERS + GD_PREFIX + GD_SUFFIX if c not in index]
        if missing:
            raise ValueError(f"the recogniser cannot read {''.join(missing)}")
        self.characters = tuple(characters)
        self._allowed: Mapping[str, np.ndarray] = {
            name: np.array([index[c] for c in alphabet])
            for name, alphabet in {
                "letter": HK_LETTERS,
                "digit": DIGITS,
                "first_digit": DIGITS[1:],
                "gd": GD_CHARACTERS,
                "z": "Z",
            }.items()
        }

    def candidates(self, probabilities: np.ndarray) -> list[Candidate]:
        """Every format the read fits, most confident first."""
        symbols = greedy_symbols(probabilities, self.characters)
        raw = "".join(s.char for s in symbols)
        kept = [s for s in symbols if s.char.isalnum()]  # letters, digits, Chinese characters
        found = []
        cjk = [_is_cjk(s.char) for s in kept]
        front, back = int(bool(kept) and cjk[0]), int(len(kept) > 1 and cjk[-1])
        core = kept[front : len(kept) - back]
        if 3 <= len(core) <= 6 and not any(cjk):
            hk_positions = ["letter", "letter", "first_digit"] + ["digit"] * (len(core) - 3)
            found.append(self._fit(core, hk_positions, "HK", raw))
        found += self._gd(kept, cjk, raw)
        return sorted(found, key=lambda c: -c.confidence)

    def _gd(self, kept: Sequence[Symbol], cjk: Sequence[bool], raw: str) -> list[Candidate]:
        """Z and four characters, between 粤 and 港 read as Chinese, misread, or not read at all: a
        misread end character is dropped at a cost (``GD_DROPPED``)."""
        found = []
        for start in range(len(kept) - 4):
            end = start + 5
            if start > 1 or len(kept) - end > 1 or any(cjk[start:end]):
                continue
            cost = 1.0
            if start and not cjk[0]:
                cost *= GD_DROPPED["front"]
            if end < len(kept) and not cjk[-1]:
                cost *= GD_DROPPED["back"]
            fit = self._fit(kept[start:end], ["z", "gd", "gd", "gd", "gd"], "GD", raw)
            found.append(Candidate(fit.plate, "GD", fit.confidence * cost, raw, fit.corrections))
        return found

    def _fit(self, symbols: Sequence[Symbol], positions: Sequence[str], region: str, raw: str) -> Candidate:
        chosen, confidence, corrections = [], 1.0, 0
        for symbol, position in zip(symbols, positions, strict=True):
            allowed = self._allowed[position]
            certainty = symbol.probabilities[allowed].astype(np.float64)
            # a look-alike of the character read, where the position cannot hold what was read
            top = float(symbol.probabilities.max())
            for n, index in enumerate(allowed):
                credit = LOOK_ALIKES.get((symbol.char, self.characters[index]), 0.0)
                certainty[n] = max(certainty[n], credit * top)
            best = int(np.argmax(certainty))
            char = self.characters[allowed[best]]
            chosen.append(char)
            corrections += int(char != symbol.char)
            confidence = min(confidence, float(certainty[best]))
        text = "".join(chosen)
        plate = f"{GD_PREFIX}{text}{GD_SUFFIX}" if region == "GD" else text
        return Candidate(plate, region, confidence, raw, corrections)


def cjk_seen(probabilities: np.ndarray, characters: Sequence[str]) -> bool:
    """Whether the read holds 粤 or 港 with some confidence: the mark of a Guangdong plate."""
    targets = [i for i, c in enumerate(characters) if c in (GD_PREFIX, GD_SUFFIX)]
    return bool(targets) and float(probabilities[:, targets].max()) >= CJK_MIN_PROBABILITY


def _is_cjk(char: str) -> bool:
    return len(char) == 1 and ord(char) >= 0x2E80
