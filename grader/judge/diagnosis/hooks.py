"""What hidden tests use: run a unit's probes once per run, and explain a failed comparison.

::

    with explained(learner, "multihead", got=got, predict=lambda v: mha(w, x, v, mask=mask)):
        check_tensor(got, expected, ...)

When the comparison fails, the unit's probes run (once per run: the finding
is kept in ``learner.run_cache``) and the failure gets:

- the finding's diagnosis, when the probes named a mistake and that mistake
  also predicts this test's output (``predict``; tests without a model of their
  own, e.g. property tests, take the named mistake as it is), with its hint;
- a localised diagnosis, when the probes failed but no mistake model matched:
  what the analyses of ``clues`` found (where, with numbers), or the parts of
  the unit that differ; a failure nothing localises gets no diagnosis (it is
  not counted as a mistake found) and keeps its own hint;
- otherwise its own hint, unless that hint names a mistake the probes ruled
  out (``GradingFailure.names``): a hint never names a cause the evidence
  contradicts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch

from grader.judge.compare import GradingFailure
from grader.judge.diagnosis.catalogue import mistakes_for
from grader.judge.diagnosis.clues import analyse
from grader.judge.diagnosis.engine import Finding, Unpredictable, diagnose
from grader.judge.diagnosis.probes_attention import sdpa_probes
from grader.judge.diagnosis.probes_block import block_probes, layer_norm_probes
from grader.judge.diagnosis.probes_multihead import multihead_probes, self_attention_probes
from grader.judge.errors import WorkerProblem
from grader.judge.run_cache import StashKey

PROBES: dict[str, Callable] = {"sdpa": sdpa_probes, "self-attention": self_attention_probes,
                               "multihead": multihead_probes, "layer-norm": layer_norm_probes, "block": block_probes}

FINDINGS: StashKey[dict[str, Finding]] = StashKey("diagnosis")  # unit -> its probes' finding, once per run


def finding_for(learner, unit: str) -> Finding:
    """The unit's probes, run once per run of the hidden tests."""
    cache = learner.run_cache.setdefault(FINDINGS, {})
    if unit not in cache:
        finding = diagnose(unit, PROBES[unit](learner), mistakes_for(unit), problems=(WorkerProblem,))
        fitted = any(spec.fit is not None for spec in finding.specs)
        if finding.failing and (not finding.known or finding.unexplained or fitted):
            finding.clues = tuple(analyse(unit, learner))  # no model explains every probe: where is the fault?
            if finding.known and set(finding.variant.ids) & {i for clue in finding.clues for i in clue.contradicts}:
                finding.variant, finding.specs = None, ()  # e.g. a "fixed" scale that the sizes change
            elif finding.known and not finding.unexplained:
                finding.clues = ()  # a fitted constant the analyses confirm: the name says it all
        cache[unit] = finding
    return cache[unit]


def _explains(got, predicted, atol: float, rtol: float) -> bool:
    if not isinstance(got, torch.Tensor) or not isinstance(predicted, torch.Tensor) or got.shape != predicted.shape:
        return False
    return bool(torch.isclose(got.double(), predicted.double(), atol=atol, rtol=rtol, equal_nan=True).all())


def explain(failure: GradingFailure, learner, unit: str, *, got=None, predict: Callable | None = None,
            atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Attach what the probes showed to ``failure`` (in place)."""
    try:
        finding = finding_for(learner, unit)
    except WorkerProblem:  # the run's time limit, or a worker that cannot start again: no evidence either way
        return
    if finding.known:
        fits = predict is None
        if not fits:
            try:
                fits = _explains(got, predict(finding.variant), atol, rtol)
            except Unpredictable:  # e.g. biases the learner never loaded: consistent, not predictable
                fits = True
            except Exception:  # noqa: BLE001 - the model does not apply to this test's inputs
                fits = False
        if fits:
            failure.diagnosis, failure.hint = finding.as_dict(), finding.hint
            return
    elif not finding.clean and finding.localised:  # a list of failing probes alone is no finding
        failure.diagnosis = finding.as_dict()
    if set(getattr(failure, "names", ())) & finding.ruled_out:
        failure.hint = ""


@contextmanager
def explained(learner, unit: str, *, got=None, predict: Callable | None = None, atol: float = 1e-5,
              rtol: float = 1e-4):
    """Explain a GradingFailure raised inside by the unit's probes (see the module's docstring)."""
    try:
        yield
    except GradingFailure as failure:
        explain(failure, learner, unit, got=got, predict=predict, atol=atol, rtol=rtol)
        raise
