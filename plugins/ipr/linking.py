"""Seller accounts linked across platforms, in the plugin's keyed state.

A listing leaves identifiers: its seller's phone number and payment id, its image's perceptual hash
(cut in four bands of 16 bits, so a re-compressed copy still shares a band), and, for a listing that
already looks like a copy, the MinHash bands of its text (near-identical texts share a band). Each
identifier key keeps, as a state minimum, the code of the earliest account that used it:
``(posted second << 21) | account number``, exact in a double. So whichever actor or process sees a
listing first, every later account that shares the identifier reads the same first account and is
linked to it; the accounts of one network end up in one star around their first account.

Photos and texts can be copied by anyone, from the brand's catalogue, a circulating template or another
seller, so they are weaker evidence than the numbers a seller is reached and paid through. Two accounts
sharing one kind of them alone are only alike (``Links.alike``, a hint for the score); a photo and a
text together, or a phone or payment id, link them. Each photo or text key also counts its carriers,
the accounts that used it: one carried by more accounts than one seller runs has been copied between
sellers and links nobody any more, so a stock photo cannot pull a market into one network.

A batch reads the owners and its accounts' names (one round trip), reads the names and flags of the
accounts it shares keys with and the carriers of the photos and texts it matches (one), lowers the
owners and counts new carriers (one), names its new accounts (one each), and counts its flags (one).
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
_ACCOUNT_MASK = (1 << ACCOUNT_BITS) - 1
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
# Kinds anyone can copy. Alone they make two accounts alike, not linked: a link needs both of them, or a
# phone or payment id (a seller's own, as it is how buyers reach and pay them).
COPYABLE = frozenset({"image", "text"})
# A photo or text carried by more accounts than one seller runs has been copied between sellers and
# links nobody any more. In the listings simulator an operator runs one to five accounts and a shop two.
MAX_CARRIERS = 5
COUNTED_CACHED = 1 << 16  # carrier pairs a linker remembers it counted (about 6 MB), then forgets
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


def _kind(key: str) -> str:
    return key[3 : key.index(":", 3)]  # "id:<kind>:<value>"


Shared = dict[tuple[int, str], list[tuple[str, int]]]  # (account number, kind) -> (key, owner code)s


def _shared(query: LinkQuery, keys: Iterable[str], owner_of: dict[str, set[int]]) -> Shared:
    """The other accounts one listing shares enough keys of a kind with, and those keys."""
    mine = account_number(query.account)
    shared: Shared = {}
    for key in keys:
        for code in owner_of.get(key, ()):
            if code & _ACCOUNT_MASK != mine:
                shared.setdefault((code & _ACCOUNT_MASK, _kind(key)), []).append((key, code))
    return {(n, kind): held for (n, kind), held in shared.items() if len(held) >= MIN_SHARED.get(kind, 1)}


def _copyable_keys(shared_of: Sequence[Shared]) -> list[str]:
    """The photo and text keys through which the batch's listings share enough with another account."""
    return sorted(
        {
            key
            for shared in shared_of
            for (_, kind), held in shared.items()
            if kind in COPYABLE
            for key, _ in held
        }
    )


def _carrier_pairs(
    queries: Sequence[LinkQuery], shared_of: Sequence[Shared], owner_of: dict[str, set[int]]
) -> dict[str, str]:
    """``has:<account number>:<key>`` of each account whose photo or text matches another's through a
    key it does not own -> the key (the owner, the key's first, is its first carrier)."""
    pairs: dict[str, str] = {}
    for q, shared in zip(queries, shared_of, strict=True):
        mine = account_number(q.account)
        for (_, kind), held in shared.items():
            if kind in COPYABLE:
                pairs.update(
                    {
                        f"has:{mine}:{key}": key
                        for key, _ in held
                        if min(owner_of[key]) & _ACCOUNT_MASK != mine
                    }
                )
    return pairs


def _carriers(
    pairs: dict[str, str], had: Sequence[str | None], counts: dict[str, str | None]
) -> tuple[dict[str, float], dict[str, float]]:
    """The counts the batch's new carriers add, and each matched key's carriers: its owner and the
    accounts that ever matched it, this batch's counted once.

    Not exact, in two rare cases: a listing that arrives late and takes a key over leaves the account it
    took it from uncounted until that account matches it again (one too few), and two actors counting
    the same new carrier at once count it twice (one too many, which only stops links sooner).
    """
    added: dict[str, float] = {}
    for key, known in zip(pairs.values(), had, strict=True):
        if known is None:
            added[f"carriers:{key}"] = added.get(f"carriers:{key}", 0.0) + 1.0
    return added, {key: 1.0 + float(n or 0) + added.get(f"carriers:{key}", 0.0) for key, n in counts.items()}


def _split(values: list[str | None], sizes: Sequence[int]) -> list[list[str | None]]:
    """``values`` cut into runs of ``sizes``, and the rest."""
    runs, start = [], 0
    for size in sizes:
        runs.append(values[start : start + size])
        start += size
    return [*runs, values[start:]]


def _owners(
    lows: dict[str, float], earlier: Sequence[str | None]
) -> tuple[dict[str, set[int]], dict[str, float]]:
    """Each key's owners, and the keys this batch lowers (most identifiers have their owner).

    A key's owners: the one before this batch and the one after it (the lower code, as the state keeps
    it). A listing that arrives late (an earlier post, a lower code) takes the key over, and is linked
    to the account that held it.
    """
    owner_of: dict[str, set[int]] = {}
    lower: dict[str, float] = {}
    for (key, low), before in zip(lows.items(), earlier, strict=True):
        owner_of[key] = {int(low), int(float(before))} if before is not None else {int(low)}
        if before is None or low < float(before):
            lower[key] = low
    return owner_of, lower


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
    """The accounts one listing's account is linked to, with how, and how often they were flagged; and
    the accounts it is only alike (one copyable kind shared: a photo or a text), for the score."""

    accounts: dict[str, set[str]] = field(default_factory=dict)  # linked account -> kinds
    flagged: int = 0  # flags of the linked accounts, before this batch
    root: str = ""  # the earliest account of the network: the case is named after it
    alike: dict[str, set[str]] = field(default_factory=dict)  # shares one copyable kind only -> kind
    alike_flagged: int = 0  # flags of the alike accounts, before this batch


class AccountLinker:
    def __init__(self, state: PluginState) -> None:
        self.state = state
        # carrier pairs this process knows are counted (a pair once counted stays): not read again
        self.counted: set[str] = set()

    def link(self, token: str, queries: Sequence[LinkQuery]) -> list[Links]:
        keys_of = [
            [f"id:{kind}:{v}" for kind, values in q.identifiers.items() for v in values] for q in queries
        ]
        lows: dict[str, float] = {}
        for q, keys in zip(queries, keys_of, strict=True):
            code = float(q.code)
            for key in keys:
                lows[key] = min(lows.get(key, code), code)
        names = {f"acct:{account_number(q.account)}": q.account for q in queries}
        found = self.state.get_many([*lows, *names])
        owner_of, lower = _owners(lows, found[: len(lows)])
        shared_of = [_shared(q, keys, owner_of) for q, keys in zip(queries, keys_of, strict=True)]
        matched = _copyable_keys(shared_of)
        pairs = {
            pair: key
            for pair, key in _carrier_pairs(queries, shared_of, owner_of).items()
            if pair not in self.counted
        }
        numbers = sorted({n for shared in shared_of for n, _ in shared})
        looked = self.state.get_many(
            [
                *(f"acct:{n}" for n in numbers),
                *(f"flags:{n}" for n in numbers),
                *pairs,
                *(f"carriers:{key}" for key in matched),
            ]
        )
        named, flags, had, counts = _split(looked, (len(numbers), len(numbers), len(pairs)))
        in_batch = {account_number(q.account): q.account for q in queries}
        account_of = {n: name or in_batch.get(n) for n, name in zip(numbers, named, strict=True)}
        flags_of = {n: float(v or 0) for n, v in zip(numbers, flags, strict=True)}
        added, carriers = _carriers(pairs, had, dict(zip(matched, counts, strict=True)))
        new_pairs = {pair: 1.0 for pair, known in zip(pairs, had, strict=True) if known is None}
        if lower or added:
            self.state.apply_once(f"ids:{token}", added, {**lower, **new_pairs}, token_ttl_s=TOKEN_TTL_S)
        if len(self.counted) + len(pairs) > COUNTED_CACHED:
            self.counted.clear()
        self.counted.update(pairs)
        for (name, account), known in zip(names.items(), found[len(lows) :], strict=True):
            if known is None:
                self.state.put(name, account)
        return [
            self._links(q, shared, carriers, account_of, flags_of)
            for q, shared in zip(queries, shared_of, strict=True)
        ]

    def _links(
        self,
        query: LinkQuery,
        shared: Shared,
        carriers: dict[str, float],
        account_of: dict[int, str | None],
        flags_of: dict[int, float],
    ) -> Links:
        kinds_of: dict[str, set[str]] = {}  # other account -> the kinds it shares enough keys of
        first_of: dict[str, int] = {}  # other account -> its earliest code among them
        for (number, kind), held in shared.items():
            other = account_of.get(number)
            codes = [code for key, code in held if carriers.get(key, 0.0) <= MAX_CARRIERS]
            if other and len(codes) >= MIN_SHARED.get(kind, 1):
                kinds_of.setdefault(other, set()).add(kind)
                first_of[other] = min(first_of.get(other, codes[0]), *codes)
        links = Links(root=query.account)
        earliest = query.code
        for other, kinds in kinds_of.items():
            if kinds <= COPYABLE and len(kinds) < 2:
                links.alike[other] = kinds
                continue
            links.accounts[other] = kinds
            if first_of[other] < earliest:
                earliest, links.root = first_of[other], other
        links.flagged = int(sum(flags_of.get(account_number(a), 0) for a in links.accounts))
        links.alike_flagged = int(sum(flags_of.get(account_number(a), 0) for a in links.alike))
        return links

    def flag(self, token: str, accounts: Iterable[str]) -> bool:
        """Count a flag for each of ``accounts``, once per token; False if the token was seen before."""
        increments: dict[str, float] = {"flags:batches": 1.0}
        for account in accounts:
            key = f"flags:{account_number(account)}"
            increments[key] = increments.get(key, 0.0) + 1.0
        return self.state.apply_once(f"flags:{token}", increments, token_ttl_s=TOKEN_TTL_S)
