"""Seller accounts linked across platforms, in the plugin's keyed state.

A listing leaves identifiers: its seller's phone number and payment id, its image's perceptual hash
(cut in four bands of 16 bits, so a re-compressed copy still shares a band), and, for a listing that
already looks like a copy, the MinHash bands of its text (near-identical texts share a band). Each
identifier key keeps, as a state minimum, the code of the earliest account that used it:
``(posted second << 21) | account number``, exact in a double. So whichever actor or process sees a
listing first, every later account that shares the identifier reads the same first account and is
linked to it; the accounts of one network end up in one star around their first account.

A batch reads the owners and its accounts' names (one round trip), lowers the owners (one), names its
new accounts (one each), reads the names and flags of the accounts linked (one), and counts its flags
(one).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from smartcustoms.core.state import PluginState

__all__ = ["AccountLinker", "LinkQuery", "Links", "minhash", "text_bands"]

ACCOUNT_BITS = 21
TOKEN_TTL_S = 7 * 86400.0
PERMUTATIONS = 30
BAND_ROWS = 5  # 6 bands of 5 rows: texts with Jaccard 0.8 share a band 90% of the time, 0.5 17%
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20261202)
_A = _rng.integers(1, _PRIME, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, PERMUTATIONS, dtype=np.uint64)
# Identifier keys of one kind two accounts must share to be linked. An image's hash is cut in four
# bands: a re-compressed copy keeps three or more, while unrelated photos of look-alike goods share two
# too often. A text is linked on two MinHash bands of six: boilerplate shares one.
MIN_SHARED = {"image": 3, "text": 2}
_NOISE = re.compile(r"[\W\d_]+", re.UNICODE)


@functools.lru_cache(maxsize=65536)
def account_number(account: str) -> int:
    return int.from_bytes(hashlib.blake2b(account.encode(), digest_size=4).digest(), "big") & (
        (1 << ACCOUNT_BITS) - 1
    )


def _gram_hashes(text: str) -> list[int]:
    clean = _NOISE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    return [zlib.crc32(g.encode()) for g in {clean[i : i + 3] for i in range(max(1, len(clean) - 2))}]


def minhash_many(texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures (``PERMUTATIONS`` values each, one column per text) of the character 3-grams
    of the normalised texts, in one array operation."""
    grams = [_gram_hashes(text) for text in texts]
    if not grams:
        return np.empty((PERMUTATIONS, 0), dtype=np.uint64)
    starts = np.cumsum([0, *map(len, grams[:-1])])
    values = np.fromiter((v for g in grams for v in g), dtype=np.uint64)
    # (a * x + b) mod 2^64 per permutation: a universal family good enough for banding
    hashed = values[None, :] * _A[:, None] + _B[:, None]
    return np.minimum.reduceat(hashed, starts, axis=1)


def minhash(text: str) -> np.ndarray:
    """MinHash signature (``PERMUTATIONS`` values) of the character 3-grams of a normalised text."""
    return minhash_many([text])[:, 0]


def text_bands_many(texts: Sequence[str]) -> list[list[str]]:
    """The LSH band keys of each text's MinHash: near-identical texts share at least one."""
    signatures = minhash_many(texts).T.copy()
    rows = [(n, n * BAND_ROWS, (n + 1) * BAND_ROWS) for n in range(PERMUTATIONS // BAND_ROWS)]
    return [
        [f"{n}:{hashlib.blake2b(sig[a:b].tobytes(), digest_size=6).hexdigest()}" for n, a, b in rows]
        for sig in signatures
    ]


def text_bands(text: str) -> list[str]:
    """``text_bands_many`` of one text."""
    return text_bands_many([text])[0]


def image_bands(phash: str) -> list[str]:
    return [f"{band}:{phash[band * 4 : band * 4 + 4]}" for band in range(len(phash) // 4)] if phash else []


def normal_phone(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-8:]


@dataclass
class LinkQuery:
    """One listing's account and identifiers, by kind (phone, payment, image, text)."""

    account: str
    posted_s: float
    identifiers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return (int(max(0.0, self.posted_s)) << ACCOUNT_BITS) | account_number(self.account)


@dataclass
class Links:
    """The accounts one listing's account is linked to, with how, and how often they were flagged."""

    accounts: dict[str, set[str]] = field(default_factory=dict)  # linked account -> kinds
    flagged: int = 0  # flags of the linked accounts, before this batch
    root: str = ""  # the earliest account of the network: the case is named after it


class AccountLinker:
    def __init__(self, state: PluginState) -> None:
        self.state = state

    def link(self, token: str, queries: Sequence[LinkQuery]) -> list[Links]:
        keys_of = [
            [f"id:{kind}:{v}" for kind, values in q.identifiers.items() for v in values] for q in queries
        ]
        lows: dict[str, float] = {}
        for q, keys in zip(queries, keys_of, strict=True):
            code = float(q.code)
            for key in keys:
                lows[key] = min(lows.get(key, code), code)
        all_keys = list(lows)
        names = {f"acct:{account_number(q.account)}": q.account for q in queries}
        found = self.state.get_many([*all_keys, *names])
        # A key's owners: the one before this batch and the one after it (the lower code, as the state
        # keeps it). A listing that arrives late (an earlier post, a lower code) takes the key over, and
        # is linked to the account that held it.
        owner_of: dict[str, set[int]] = {}
        lower: dict[str, float] = {}  # only keys this batch lowers: most identifiers have their owner
        for key, earlier in zip(all_keys, found, strict=False):
            low = int(lows[key])
            owner_of[key] = {low, int(float(earlier))} if earlier is not None else {low}
            if earlier is None or low < float(earlier):
                lower[key] = lows[key]
        if lower:
            self.state.apply_once(f"ids:{token}", {}, lower, token_ttl_s=TOKEN_TTL_S)
        for (name, account), known in zip(names.items(), found[len(all_keys) :], strict=True):
            if known is None:
                self.state.put(name, account)
        numbers = sorted({c & ((1 << ACCOUNT_BITS) - 1) for codes in owner_of.values() for c in codes})
        looked = self.state.get_many([f"acct:{n}" for n in numbers] + [f"flags:{n}" for n in numbers])
        account_of = dict(zip(numbers, looked[: len(numbers)], strict=True))
        flags_of = {n: float(v or 0) for n, v in zip(numbers, looked[len(numbers) :], strict=True)}
        return [
            self._links(q, keys, owner_of, account_of, flags_of)
            for q, keys in zip(queries, keys_of, strict=True)
        ]

    def _links(
        self,
        query: LinkQuery,
        keys: Iterable[str],
        owner_of: dict[str, set[int]],
        account_of: dict[int, str | None],
        flags_of: dict[int, float],
    ) -> Links:
        mine = account_number(query.account)
        links = Links(root=query.account)
        earliest = query.code
        shared: dict[tuple[str, str], int] = {}
        for key in keys:
            for code in owner_of.get(key, ()):
                number = code & ((1 << ACCOUNT_BITS) - 1)
                other = account_of.get(number)
                if number == mine or not other:
                    continue
                kind = key[3 : key.index(":", 3)]  # "id:<kind>:<value>"
                shared[(other, kind)] = shared.get((other, kind), 0) + 1
                if shared[(other, kind)] >= MIN_SHARED.get(kind, 1):
                    links.accounts.setdefault(other, set()).add(kind)
                    if code < earliest:
                        earliest, links.root = code, other
        links.flagged = int(sum(flags_of.get(account_number(a), 0) for a in links.accounts))
        return links

    def flag(self, token: str, accounts: Iterable[str]) -> bool:
        """Count a flag for each of ``accounts``, once per token; False if the token was seen before."""
        increments: dict[str, float] = {"flags:batches": 1.0}
        for account in accounts:
            key = f"flags:{account_number(account)}"
            increments[key] = increments.get(key, 0.0) + 1.0
        return self.state.apply_once(f"flags:{token}", increments, token_ttl_s=TOKEN_TTL_S)
