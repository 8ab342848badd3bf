"""The harness's data pipelines for the training milestones.

A milestone's ``training.task`` names one of :data:`TASKS`; :func:`prepare_task`
loads its text (local folder or hub, see :mod:`milestones.tasks.sources`),
trains or loads a cached tokeniser and returns a :class:`PreparedTask`.

This runs in the trusted judge process, never in the sandboxed worker: the
worker receives ``PreparedTask.to_worker_tensors()`` and the plain ``spec``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from milestones.corpora import DATA_DIR_ENV
from milestones.tasks import causal_lm, classification, masked_lm, modular, reversal
from milestones.tasks.prepared import PreparedTask
from milestones.tasks.sources import DataUnavailable, load_corpus


@dataclass(frozen=True)
class TaskDefinition:
    corpus: str | None  # "rt_polarity" or "ag_news" (see sources.SOURCES); None: computed data, no corpus
    prepare: Callable[..., PreparedTask]  # prepare(name, corpus, settings, cache_dir)
    settings: object  # a frozen dataclass; part of the fingerprint


TASKS: dict[str, TaskDefinition] = {
    "rt_polarity": TaskDefinition("rt_polarity", classification.prepare, classification.ClassificationSettings()),
    "ag_news_mlm": TaskDefinition("ag_news", masked_lm.prepare, masked_lm.MaskedLMSettings()),
    "ag_news_lm": TaskDefinition("ag_news", causal_lm.prepare, causal_lm.CausalLMSettings()),
    "modular_addition_59": TaskDefinition(None, modular.prepare, modular.ModularSettings()),  # computed, no corpus
    "modular_addition_113": TaskDefinition(None, modular.prepare, modular.ModularSettings(113, 0.35, 0.25)),  # p = 113
    "reversal": TaskDefinition(None, reversal.prepare, reversal.ReversalSettings()),  # computed, no corpus
}


def prepare_task(name: str, *, data_dir: Path | None, cache_dir: Path) -> PreparedTask:
    """Load, split and tokenise task ``name``. ``data_dir`` (else ``$CHALLENGE_DATA_DIR``)
    is a folder in the original formats; without one the hub is used.

    Raises KeyError for an unknown name and DataUnavailable when no source works.
    """
    if name not in TASKS:
        raise KeyError(f"unknown training task {name!r}; known: {', '.join(TASKS)}")
    definition = TASKS[name]
    corpus = load_corpus(definition.corpus, data_dir=data_dir) if definition.corpus else None  # None: computed data
    return definition.prepare(name, corpus, definition.settings, Path(cache_dir))


__all__ = ["DATA_DIR_ENV", "TASKS", "DataUnavailable", "PreparedTask", "TaskDefinition", "prepare_task"]
