"""Masked language modelling (AG News): ``[CLS] w1 ... wn [SEP] [PAD]...`` per article.

The judge's own BERT masking of the test split lives with the judge
(``grader.judge.tasks.mask_for_evaluation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
