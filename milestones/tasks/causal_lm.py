"""Next-character prediction (AG News): every split is one stream of character ids,
articles separated by a newline.

Characters, not words: a 2-core CPU learns spelling and short words within three
minutes (about 1.9 nats/char against a unigram 3.3), and the vocabulary needs no
[UNK] tuning. Also the judge's helper that cuts a stream into evaluation windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from milestones.tasks import vocab
from milestones.tasks.prepared import PreparedTask, task_fingerprint, tokenizer_path
from milestones.tasks.sources import SPLITS, Corpus

SEPARATOR = "\n"  # AG News text has no newlines, so it marks the end of an article


@dataclass(frozen=True)
class CausalLMSettings:
    block_size: int = 128  # context length; about half an article
    max_vocab: int = 128  # the local AG subset has 82 characters; the full set a long tail of rare ones
    min_frequency: int = 1
    lowercase: bool = False  # capitals are easy to learn and make samples readable


SPECIALS = [vocab.PAD, vocab.UNK]


def prepare(name: str, corpus: Corpus, settings: CausalLMSettings, cache_dir: Path) -> PreparedTask:
    fingerprint = task_fingerprint(name, settings, corpus)
    tokenizer = vocab.cached_tokenizer(
        tokenizer_path(cache_dir, name, fingerprint),
        lambda: vocab.build_tokenizer(
            "chars",
            (text + SEPARATOR for text in corpus.splits["train"].texts),
            specials=SPECIALS,
            max_vocab=settings.max_vocab,
            min_frequency=settings.min_frequency,
            lowercase=settings.lowercase,
        ),
    )
    pad_id, unk_id = (tokenizer.token_to_id(t) for t in SPECIALS)
    spec = {
        "task": name,
        "vocab_size": tokenizer.get_vocab_size(),
        "block_size": settings.block_size,
        "pad_id": pad_id,  # never occurs in the stream; there for models that want it
        "unk_id": unk_id,
    }
    dtype = vocab.compact_dtype(spec["vocab_size"])
    inputs = {}
    for split in SPLITS:
        docs = vocab.encode(tokenizer, [text + SEPARATOR for text in corpus.splits[split].texts])
        inputs[split] = torch.cat([torch.tensor(doc, dtype=dtype) for doc in docs])
    return PreparedTask(
        name=name,
        kind="causal_lm",
        spec=spec,
        inputs=inputs,
        label_names=list(corpus.label_names),
        tokenizer=tokenizer,
        fingerprint=fingerprint,
        source=corpus.source,
    )
