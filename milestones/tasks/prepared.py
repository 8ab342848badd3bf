"""``PreparedTask``: a tokenised data set, ready for the judge and the worker.

Inputs and labels are kept apart so that the judge can send a split's inputs to
the sandboxed worker without its labels. Tensor names on the wire are
``"<split>.<field>"``, where field is one of

    ids      (N, T) token ids per example, right-padded with spec["pad_id"]
    labels   (N,)   class ids (classification only)
    tokens   (L,)   one token stream, documents joined by a separator (causal LM)

Token ids are stored in a compact integer type; cast with ``.long()`` before use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer

from milestones.tasks.sources import Corpus

PIPELINE_VERSION = 1  # bump when tokenisation changes in a way the settings do not show


@dataclass(frozen=True, eq=False)
class PreparedTask:
    name: str  # registry name, e.g. "rt_polarity"
    kind: str  # "classification", "masked_lm", "causal_lm" or "modular_addition"
    spec: dict  # plain values for the learner's build_model(spec)
    inputs: dict[str, torch.Tensor]  # split -> ids (N, T) or tokens (L,)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)  # split -> (N,) int64; classification only
    label_names: list[str] = field(default_factory=list)
    tokenizer: Tokenizer | None = None  # decodes ids for example predictions
    fingerprint: str = ""  # sha256 of the task settings and the data
    source: str = ""  # where the text came from, "local:<folder>" or "hub:<id>"

    @property
    def input_field(self) -> str:
        return "tokens" if self.inputs["train"].dim() == 1 else "ids"

    def to_worker_tensors(self, splits=("train", "validation"), *, labels: bool = True) -> dict[str, torch.Tensor]:
        """Flat ``{"<split>.<field>": tensor}`` for safetensors. Test labels never leave the judge."""
        if labels and "test" in splits and self.labels:
            raise ValueError("test labels never go to the worker: call with labels=False for the test split")
        out = {}
        for split in splits:
            out[f"{split}.{self.input_field}"] = self.inputs[split].contiguous()
            if labels and split in self.labels:
                out[f"{split}.labels"] = self.labels[split].contiguous()
        return out

    def decode(self, ids, *, skip_special: bool = False) -> str:
        """Text of a 1-D sequence of ids; padding is always dropped."""
        ids = [int(i) for i in ids if int(i) != self.spec["pad_id"]]
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special)


def task_fingerprint(name: str, settings, corpus: Corpus) -> str:
    payload = json.dumps({"task": name, "settings": asdict(settings), "version": PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(f"{payload}\n{corpus.fingerprint}".encode()).hexdigest()


def tokenizer_path(cache_dir: Path, name: str, fingerprint: str) -> Path:
    return Path(cache_dir) / f"{name}-{fingerprint[:16]}.tokenizer.json"
