"""Sentence classification (rt-polarity): ``[CLS] w1 w2 ... [PAD]...`` and a label."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from milestones.tasks import vocab
from milestones.tasks.prepared import PreparedTask, task_fingerprint, tokenizer_path
from milestones.tasks.sources import SPLITS, Corpus


@dataclass(frozen=True)
class ClassificationSettings:
    max_len: int = 64  # covers 99.9% of rt-polarity sentences (longest: 68 words + [CLS])
    max_vocab: int = 20_000  # a ceiling; min_frequency decides (about 10k words on rt-polarity)
    min_frequency: int = 2  # a word seen once in train cannot be learned, [UNK] generalises better
    lowercase: bool = True


SPECIALS = [vocab.PAD, vocab.UNK, vocab.CLS]


def prepare(name: str, corpus: Corpus, settings: ClassificationSettings, cache_dir: Path) -> PreparedTask:
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
    pad_id, unk_id, cls_id = (tokenizer.token_to_id(t) for t in SPECIALS)
    spec = {
        "task": name,
        "vocab_size": tokenizer.get_vocab_size(),
        "max_len": settings.max_len,
        "pad_id": pad_id,
        "unk_id": unk_id,
        "cls_id": cls_id,
        "n_classes": len(corpus.label_names),
        "label_names": list(corpus.label_names),
    }
    dtype = vocab.compact_dtype(spec["vocab_size"])
    inputs, labels = {}, {}
    for split in SPLITS:
        rows = [[cls_id] + ids for ids in vocab.encode(tokenizer, corpus.splits[split].texts)]
        inputs[split] = vocab.pad_rows(rows, length=settings.max_len, pad_id=pad_id, dtype=dtype)
        labels[split] = torch.tensor(corpus.splits[split].labels, dtype=torch.int64)
    return PreparedTask(
        name=name,
        kind="classification",
        spec=spec,
        inputs=inputs,
        labels=labels,
        label_names=list(corpus.label_names),
        tokenizer=tokenizer,
        fingerprint=fingerprint,
        source=corpus.source,
    )
