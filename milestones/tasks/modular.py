"""Modular addition for the grokking milestone: ``[x, y, =]`` -> ``(x + y) mod p``.

Every one of the p * p pairs is one example. A fixed shuffle cuts them into

    train       the pairs the model learns from (``train_fraction`` of all)
    validation  held-out pairs the learner watches: grokking is about this curve
    test        held-out pairs whose labels never leave the judge; the final
                checkpoint is graded on them

Tokens: the numbers 0..p-1 are their own ids and ``=`` is id p, so
``vocab_size = p + 1``. There is no padding (every row has three tokens); the
spec's ``pad_id`` of -1 never matches a token and exists only because the
harness's batches carry a padding mask. No corpus, no tokeniser, no download:
the data are computed, the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from milestones.tasks.prepared import PreparedTask

SPLITS = ("train", "validation", "test")
PIPELINE_VERSION = 1  # bump if the split or the layout changes in a way the settings do not show


@dataclass(frozen=True)
class ModularSettings:
    p: int = 59  # a prime; the reference groks within ~1,000 full-batch steps, a few CPU minutes
    train_fraction: float = 0.5  # the reference memorises by step ~140; validation 95% at step ~840
    validation_fraction: float = 0.25  # the rest of the pairs (0.25 here) are the test split
    seed: int = 0  # the shuffle that cuts the pairs into splits


def pairs(p: int) -> torch.Tensor:
    """All p * p operand pairs (x, y), x-major: row x * p + y holds (x, y)."""
    x, y = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1)  # (p*p, 2)


def encode(operands: torch.Tensor, p: int) -> torch.Tensor:
    """(N, 2) operand pairs -> (N, 3) token rows [x, y, =]."""
    equals = torch.full((len(operands), 1), p, dtype=torch.int64)
    return torch.cat([operands.long(), equals], dim=1)


def answers(operands: torch.Tensor, p: int) -> torch.Tensor:
    """(N, 2) operand pairs -> (N,) (x + y) mod p."""
    return (operands[:, 0].long() + operands[:, 1].long()) % p


def split_index(settings: ModularSettings) -> dict[str, torch.Tensor]:
    """Row indices into :func:`pairs` per split; disjoint, together every pair once."""
    total = settings.p * settings.p
    n_train = round(total * settings.train_fraction)
    n_validation = round(total * settings.validation_fraction)
    if not (0 < n_train and 0 < n_validation and n_train + n_validation < total):
        raise ValueError(f"fractions {settings.train_fraction} + {settings.validation_fraction} leave no test pairs")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(settings.seed))
    bounds = {"train": (0, n_train), "validation": (n_train, n_train + n_validation),
              "test": (n_train + n_validation, total)}
    return {split: order[start:stop].sort().values for split, (start, stop) in bounds.items()}


def fingerprint(name: str, settings: ModularSettings) -> str:
    payload = json.dumps({"task": name, "settings": asdict(settings), "version": PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def prepare(name: str, corpus: None, settings: ModularSettings, cache_dir: Path) -> PreparedTask:
    """The task's splits; ``corpus`` and ``cache_dir`` are unused (nothing is loaded or cached)."""
    p = settings.p
    operands = pairs(p)
    index = split_index(settings)
    inputs = {split: encode(operands[rows], p) for split, rows in index.items()}
    labels = {split: answers(operands[rows], p) for split, rows in index.items()}
    spec = {
        "task": name,
        "p": p,
        "vocab_size": p + 1,  # 0..p-1 are the numbers, p is "="
        "eq_id": p,
        "seq_len": 3,  # [x, y, =]
        "n_classes": p,  # the answer is one of 0..p-1
        "n_train": len(inputs["train"]),  # full-batch training: task.batches(spec["n_train"])
        "n_validation": len(inputs["validation"]),
        "pad_id": -1,  # no padding anywhere; never matches a token
    }
    return PreparedTask(name=name, kind="modular_addition", spec=spec, inputs=inputs, labels=labels,
                        label_names=[str(i) for i in range(p)], fingerprint=fingerprint(name, settings),
                        source=f"computed: (x + y) mod {p}")
