"""Masked language modelling (AG News): ``[CLS] w1 ... wn [SEP] [PAD]...`` per article.

Also the judge's own BERT masking, used to corrupt the test split with a fixed
seed so that every learner is scored on the same masked positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from milestones.tasks import vocab
from milestones.tasks.prepared import PreparedTask, task_fingerprint, tokenizer_path
from milestones.tasks.sources import SPLITS, Corpus

MASK_PROB = 0.15  # BERT: 15% of eligible tokens are picked; of those 80% [MASK], 10% random, 10% kept


@dataclass(frozen=True)
class MaskedLMSettings:
    max_len: int = 64  # [CLS] + 62 words + [SEP]; the median AG News article has 45 words
    # 2,000 ids (5 specials + 1,995 words) cover ~83% of the words. A larger vocabulary
    # (8.9k) stalls a 3-minute CPU run at the unigram plateau; see bench/measure_references.py.
    max_vocab: int = 2_000
    min_frequency: int = 2
    lowercase: bool = True


SPECIALS = [vocab.PAD, vocab.UNK, vocab.CLS, vocab.SEP, vocab.MASK]


def prepare(name: str, corpus: Corpus, settings: MaskedLMSettings, cache_dir: Path) -> PreparedTask:
    fingerprint = task_fingerprint(name, settings, corpus)
    tokenizer = vocab.cached_tokenizer(
        tokenizer_path(cache_dir, name, fingerprint),
        lambda: vocab.build_tokenizer(
            "words",
            corpus.splits["train"].texts,
            specials=SPECIALS,
            max_vocab=settings.max_vocab,
            min_frequency=settings.min_frequency,
            lowercase=settings.lowercase,
        ),
    )
    pad_id, unk_id, cls_id, sep_id, mask_id = (tokenizer.token_to_id(t) for t in SPECIALS)
    spec = {
        "task": name,
        "vocab_size": tokenizer.get_vocab_size(),
        "max_len": settings.max_len,
        "pad_id": pad_id,
        "unk_id": unk_id,
        "cls_id": cls_id,
        "sep_id": sep_id,
        "mask_id": mask_id,
        # Never picked for masking nor drawn as a random replacement. [UNK] is here
        # too: guessing "some rare word" is not language modelling.
        "special_ids": [pad_id, unk_id, cls_id, sep_id, mask_id],
        "mask_prob": MASK_PROB,
    }
    dtype = vocab.compact_dtype(spec["vocab_size"])
    inputs = {}
    for split in SPLITS:
        words = vocab.encode(tokenizer, corpus.splits[split].texts)
        rows = [[cls_id] + ids[: settings.max_len - 2] + [sep_id] for ids in words]
        inputs[split] = vocab.pad_rows(rows, length=settings.max_len, pad_id=pad_id, dtype=dtype)
    return PreparedTask(
        name=name,
        kind="masked_lm",
        spec=spec,
        inputs=inputs,
        label_names=list(corpus.label_names),
        tokenizer=tokenizer,
        fingerprint=fingerprint,
        source=corpus.source,
    )


def mask_for_evaluation(ids: torch.Tensor, spec: dict, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's BERT corruption of ``ids`` (N, T) with a fixed seed.

    Returns ``(inputs, labels)``, both int64 (N, T): labels hold the original id at
    the picked positions and -100 elsewhere. Only ``inputs`` go to the worker.
    """
    ids = ids.long()
    generator = torch.Generator().manual_seed(seed)
    special = torch.tensor(spec["special_ids"])
    eligible = ~torch.isin(ids, special)
    picked = eligible & (torch.rand(ids.shape, generator=generator) < spec["mask_prob"])
    action = torch.rand(ids.shape, generator=generator)
    regular = torch.tensor([i for i in range(spec["vocab_size"]) if i not in set(spec["special_ids"])])
    random_ids = regular[torch.randint(len(regular), ids.shape, generator=generator)]
    inputs = torch.where(picked & (action < 0.8), spec["mask_id"], ids)
    inputs = torch.where(picked & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    labels = torch.where(picked, ids, -100)
    return inputs, labels
