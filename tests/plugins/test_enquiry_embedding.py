"""The English sentence model: its tokenizer, its weights' check and what its embeddings rank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartcustoms.plugins.enquiry.embedding import EncoderUnavailable, SentenceEncoder, default_encoder


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
