"""The sentence models (English, and multilingual for Chinese): their weights' check, what their
embeddings rank, and the on-disk cache of the knowledge base's vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartcustoms.plugins.enquiry import embedding
from smartcustoms.plugins.enquiry.embedding import (
    HIDDEN,
    EncoderUnavailable,
    MultilingualEncoder,
    SentenceEncoder,
    default_encoder,
    default_multilingual_encoder,
)


def test_wordpiece_ids_match_the_reference_tokenizer() -> None:
    # ids from the model's own tokenizer.json (Hugging Face tokenizers), taken once
    ids = default_encoder().tokenizer.ids("How many cigarettes can I bring duty-free?")
    assert ids == [101, 2129, 2116, 15001, 2064, 1045, 3288, 4611, 1011, 2489, 1029, 102]


def test_a_paraphrase_is_closer_than_another_topic() -> None:
    encoder = default_encoder()
    question, paraphrase, other = (
        encoder.embed(t)
        for t in (
            "how many cigarettes can i bring duty free",
            "what's the most smokes I can carry without paying tax",
            "can i bring my dog",
        )
    )
    assert float(np.linalg.norm(question)) == pytest.approx(1.0, abs=1e-5)
    assert float(question @ paraphrase) > float(question @ other) + 0.2


def test_weights_that_are_not_the_model_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", encoding="utf-8")
    with pytest.raises(EncoderUnavailable, match="SHA-256"):
        SentenceEncoder.from_folder(tmp_path)


def test_the_multilingual_model_ranks_chinese_paraphrases_across_scripts_and_languages() -> None:
    encoder = default_multilingual_encoder()
    question = encoder.query("我可以帶幾多支酒返香港唔使交稅?")  # Cantonese, Traditional
    paraphrase, other, english, english_other = encoder.queries(
        [
            "入境时可以免税携带多少瓶酒?",  # Simplified, other words
            "可以帶狗入境嗎?",  # a pet, not liquor
            "How much liquor can I bring in duty-free?",
            "How do I declare cash at the border?",
        ]
    )
    assert question.shape == (HIDDEN,)
    assert float(np.linalg.norm(question)) == pytest.approx(1.0, abs=1e-4)
    assert float(question @ paraphrase) > float(question @ other)
    assert float(question @ english) > float(question @ english_other)


def test_a_multilingual_model_file_that_is_not_the_model_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"not a model")
    with pytest.raises(EncoderUnavailable, match="SHA-256"):
        MultilingualEncoder(fake)
    with pytest.raises(EncoderUnavailable, match="missing"):
        MultilingualEncoder(tmp_path / "absent.bin")


def test_cached_vectors_are_read_back_and_a_damaged_file_is_recomputed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.full((len(texts), HIDDEN), float(len(calls)), np.float32)

    first = embedding.cached("model-a", "query", ["a", "b"], compute)
    again = embedding.cached("model-a", "query", ["a", "b"], compute)
    assert len(calls) == 1 and np.array_equal(first, again)
    # another model, mode or text is another key
    embedding.cached("model-b", "query", ["a", "b"], compute)
    embedding.cached("model-a", "passage", ["a", "b"], compute)
    embedding.cached("model-a", "query", ["a", "c"], compute)
    assert len(calls) == 4
    files = sorted((tmp_path / "smartcustoms" / "embeddings").glob("*.npy"))
    assert len(files) == 4
    for file in files:
        file.write_bytes(b"damaged")
    recomputed = embedding.cached("model-a", "query", ["a", "b"], compute)
    assert len(calls) == 5 and float(recomputed[0, 0]) == 5.0
    # weights nobody checked are never cached
    embedding.cached("unchecked", "query", ["a"], compute)
    embedding.cached("unchecked", "query", ["a"], compute)
    assert len(calls) == 7


def test_a_model_package_that_is_not_installed_is_named() -> None:
    with pytest.raises(EncoderUnavailable, match="no_such_model_package is not installed"):
        embedding._packaged("no_such_model_package", "model.bin", "sentence model")
