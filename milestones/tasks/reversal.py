"""Sequence reversal for the Hilton milestone: ``x_1 .. x_n SEP x_n .. x_1``.

Jacob Hilton's deep learning curriculum checks a GPT's attention mask on this
toy task: the symbols ``x_i`` are drawn uniformly and independently, so no
causal model can predict the first half better than chance, while the second
half is a copy of the first, read backwards, and a working model gets it right.

Each row is one sequence of ``2n + 1`` tokens::

    position  0 .. n-1    n      n+1 .. 2n
    token     x_1 .. x_n  SEP    x_n .. x_1

Tokens: the symbols are ids ``0 .. n_symbols - 1`` and SEP is ``n_symbols``, so
``vocab_size = n_symbols + 1``. A GPT reads ``row[:-1]`` (``block_size = 2n``
tokens) and predicts ``row[1:]``. There is no padding (``pad_id`` -1 never
matches a token; the harness's batches carry a padding mask anyway).

Three splits of distinct sequences (no sequence is in two splits, nor twice in
one): train (the learner's), validation (the learner watches it) and test (the
judge's fresh sequences: only their inputs reach the learner's code). Nothing
is downloaded: the rows are computed from ``seed``, the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from milestones.tasks.prepared import PreparedTask

SPLITS = ("train", "validation", "test")
PIPELINE_VERSION = 1  # bump if the layout or the drawing changes in a way the settings do not show
SYMBOL_NAMES = string.ascii_lowercase  # how the symbols print in examples: a, b, c, ...
SEP_NAME = "|"


@dataclass(frozen=True)
class ReversalSettings:
    n_symbols: int = 16  # chance is 1/16 = 6.25%
    half_len: int = 8  # n: 16^8 = 4.3e9 possible sequences, far more than any model can memorise
    n_train: int = 100_000  # the reference needs ~15,000 of them (~500 steps of 32)
    n_validation: int = 2_000
    n_test: int = 4_096  # the judge's: ~256 right answers per position at chance
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.n_symbols <= len(SYMBOL_NAMES):
            raise ValueError(f"n_symbols must be 2..{len(SYMBOL_NAMES)}, got {self.n_symbols}")
        if self.half_len < 2 or self.n_symbols ** self.half_len >= 2**62:
            raise ValueError(f"half_len {self.half_len} with {self.n_symbols} symbols is out of range")
        total = self.n_train + self.n_validation + self.n_test
        if min(self.n_train, self.n_validation, self.n_test) < 1 or total > self.n_symbols ** self.half_len // 2:
            raise ValueError("split sizes must be positive and well below the number of possible sequences")


def draw_halves(settings: ReversalSettings) -> torch.Tensor:
    """(N, n) int64 first halves for every split, all distinct, in a fixed random order:
    train first, then validation, then test. Duplicates are dropped (the first draw stays)
    and more rows drawn until there are enough."""
    total = settings.n_train + settings.n_validation + settings.n_test
    n, k = settings.half_len, settings.n_symbols
    generator = torch.Generator().manual_seed(settings.seed)
    powers = k ** torch.arange(n)  # one integer per sequence (base k), exact in int64
    kept, seen = [], torch.empty(0, dtype=torch.int64)
    while len(seen) < total:
        missing = total - len(seen)
        drawn = torch.randint(k, (missing + missing // 50 + 64, n), generator=generator)  # spare rows for duplicates
        codes = drawn @ powers
        unique, inverse = torch.unique(codes, return_inverse=True)
        first = torch.full((len(unique),), len(codes)).scatter_reduce(0, inverse, torch.arange(len(codes)), "amin")
        first = first.sort().values  # the first occurrence of each sequence, in drawing order
        fresh = first[~torch.isin(codes[first], seen)]
        kept.append(drawn[fresh])
        seen = torch.cat([seen, codes[fresh]])
    return torch.cat(kept)[:total]


def encode(halves: torch.Tensor, sep_id: int) -> torch.Tensor:
    """(N, n) first halves -> (N, 2n + 1) rows ``x_1 .. x_n SEP x_n .. x_1``."""
    sep = torch.full((len(halves), 1), sep_id, dtype=halves.dtype)
    return torch.cat([halves, sep, halves.flip(1)], dim=1)


def fingerprint(name: str, settings: ReversalSettings) -> str:
    payload = json.dumps({"task": name, "settings": asdict(settings), "version": PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def prepare(name: str, corpus: None, settings: ReversalSettings, cache_dir: Path) -> PreparedTask:
    """The task's splits; ``corpus`` and ``cache_dir`` are unused (nothing is loaded or cached)."""
    k, n = settings.n_symbols, settings.half_len
    rows = encode(draw_halves(settings), sep_id=k).to(torch.int16)  # compact; the worker casts with .long()
    bounds = {"train": (0, settings.n_train),
              "validation": (settings.n_train, settings.n_train + settings.n_validation),
              "test": (settings.n_train + settings.n_validation, len(rows))}
    inputs = {split: rows[start:stop].contiguous() for split, (start, stop) in bounds.items()}
    spec = {
        "task": name,
        "vocab_size": k + 1,  # the symbols 0..k-1 and SEP
        "n_symbols": k,
        "sep_id": k,
        "half_len": n,
        "seq_len": 2 * n + 1,  # a row: x_1 .. x_n SEP x_n .. x_1
        "block_size": 2 * n,  # the model reads row[:-1] and predicts row[1:]
        "n_train": settings.n_train,
        "n_validation": settings.n_validation,
        "pad_id": -1,  # no padding anywhere; never matches a token
    }
    return PreparedTask(name=name, kind="reversal", spec=spec, inputs=inputs, labels={},
                        label_names=[*SYMBOL_NAMES[:k], SEP_NAME], fingerprint=fingerprint(name, settings),
                        source=f"computed: {n} random symbols of {k}, SEP, the same reversed (seed {settings.seed})")
