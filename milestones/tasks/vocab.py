"""Tokenisers for the training tasks, built with Hugging Face ``tokenizers``.

Two kinds, both trained on the TRAIN split only and cached as JSON:

- ``words``: lower-cased, split into words and punctuation runs (``\\w+|[^\\w\\s]+``),
  the most frequent words kept, the rest map to ``[UNK]``;
- ``chars``: one token per character, the most frequent characters kept.

Special tokens come first, in the order given, so ``[PAD]`` is always id 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"


def build_tokenizer(
    kind: str,
    train_texts: Iterable[str],
    *,
    specials: list[str],
    max_vocab: int,
    min_frequency: int,
    lowercase: bool,
) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    if kind == "words":
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    elif kind == "chars":
        tokenizer.pre_tokenizer = pre_tokenizers.FixedLength(length=1)
        tokenizer.decoder = decoders.Fuse()  # join characters without spaces
    else:
        raise ValueError(f"unknown tokeniser kind {kind!r}")
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_vocab, min_frequency=min_frequency, special_tokens=specials, show_progress=False
    )
    tokenizer.train_from_iterator(train_texts, trainer=trainer)
    return tokenizer


def cached_tokenizer(path: Path, build) -> Tokenizer:
    """Load the tokeniser at ``path``, or ``build()`` it and save it there atomically."""
    if path.is_file():
        return Tokenizer.from_file(str(path))
    tokenizer = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    tokenizer.save(str(partial))
    partial.replace(path)
    return tokenizer


def encode(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def compact_dtype(vocab_size: int) -> torch.dtype:
    """Ids are stored in the smallest integer type that holds them (a full AG News
    character stream is 29M tokens); batches are cast to int64 when used."""
    return torch.int16 if vocab_size <= torch.iinfo(torch.int16).max else torch.int32


def pad_rows(rows: list[list[int]], *, length: int, pad_id: int, dtype: torch.dtype) -> torch.Tensor:
    """(N, length) tensor of the rows, cut at ``length`` and right-padded with ``pad_id``."""
    out = torch.full((len(rows), length), pad_id, dtype=dtype)
    for i, row in enumerate(rows):
        row = row[:length]
        out[i, : len(row)] = torch.tensor(row, dtype=dtype)
    return out
