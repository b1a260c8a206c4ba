"""Raw text as a modality: a word-level tokenizer (Hugging Face ``tokenizers``) trained on the train
split's texts only, and a decoder that turns one text into a fixed row of ``max_tokens`` token ids.

Id 0 is ``[PAD]`` (the Transformer encoder's padding, masked out) and id 1 ``[UNK]`` (every word
outside the vocabulary). Texts are Unicode-NFKC normalised (and lower-cased unless
``lowercase: false``) and split on whitespace and punctuation; the vocabulary is the
``vocab_size − 2`` most frequent words of the train split. Word-level, not WordPiece/BPE: their
trainers break ties between equally frequent merges differently from run to run (we saw two
trainings of the same texts give 127 and 128 tokens), which would change the fingerprint of
identical data and make trained teachers look stale; the word-level trainer is deterministic. A longer text keeps its first ``max_tokens`` tokens; the loader counts
those rows and says so once. The tokenizer's JSON is written to the run folder
(``RUN/tokenizers/<modality>.json``) and its SHA-256 is part of the preprocessing description, so
the preprocessed cache and the splits' fingerprints change with it.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

import numpy as np
from pydantic import Field

from g2d.registry import Options
from g2d.validation import DataError

PAD, UNK = "[PAD]", "[UNK]"


class TextOptions(Options):
    vocab_size: int = Field(2000, ge=3, description="vocabulary size at most ([PAD] and [UNK] included)")
    max_tokens: int = Field(64, gt=0, description="token ids per text; longer texts are truncated (with a note)")
    lowercase: bool = Field(True, description="lower-case texts before tokenizing")
    min_frequency: int = Field(1, ge=1, description="a word needs this many occurrences in the train split")


def train_tokenizer(texts: Iterable[str], opts: TextOptions) -> Any:
    """A word-level tokenizer trained on ``texts`` (the train split's)."""
    try:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    except ImportError:
        raise DataError("a text modality needs the Hugging Face `tokenizers` package: "
                        "pip install 'g2d[text]'") from None
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if opts.lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordLevelTrainer(vocab_size=opts.vocab_size, min_frequency=opts.min_frequency,
                                        special_tokens=[PAD, UNK], show_progress=False)
    tokenizer.train_from_iterator(list(texts), trainer)
    return tokenizer


class TokenizeText:
    """text -> float32 (max_tokens,) token ids, 0-padded (deterministic: part of the cache key)."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.json = tokenizer.to_str()
        self.sha256 = hashlib.sha256(self.json.encode()).hexdigest()
        self.truncated = 0  # rows longer than max_tokens over every split (set by the loader)

    def ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def __call__(self, source: Any) -> np.ndarray:
        row = np.zeros(self.max_tokens, np.float32)
        ids = self.ids(source.text)[: self.max_tokens]
        row[: len(ids)] = ids
        return row

    def describe(self) -> str:
        return (f"word-level tokenizer sha256 {self.sha256[:16]} ({self.tokenizer.get_vocab_size()} tokens), "
                f"{self.max_tokens} ids per text")

    def count_truncated(self, texts: Iterable[str]) -> int:
        return sum(len(self.ids(t)) > self.max_tokens for t in texts)
