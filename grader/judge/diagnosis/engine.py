"""Differential diagnosis: what the learner's code does on isolating probes, matched
against mistake models.

A *probe* is one call into the learner's code with weights and inputs the judge
chose (every bias zero, one head, a transposed mask, scores around 1e3, one
sub-layer switched off, ...) together with what a model of the code predicts
for it. The *reference* model predicts what a correct solution does; a
*variant* of it makes one or two known mistakes (``catalogue.MISTAKES``).

``diagnose`` runs every probe once, then:

- a probe *fails* when the learner's observation differs from the reference's;
- a mistake is *ruled out* when it would change a probe that passed;
- a variant *matches* when it predicts every failing probe and contradicts none;
  singles are tried first, then pairs of mistakes that were not ruled out;
- with no match, the finding *localises* the fault: which probes (which
  sub-layers, masks, bias groups) are right and which differ.

Models consult a variant through ``has``/``param`` only; the engine records
which mistakes the reference prediction of a probe consulted, and a mistake
the probe never asks about predicts what the reference predicts, without
running the model again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import torch

from grader.errors import GraderError
from grader.judge.diagnosis.clue import leads
from grader.judge.diagnosis.wording import evidence, localise

NONDETERMINISTIC = "nondeterministic"  # an observation: two identical calls gave different outputs


class Unpredictable(GraderError):
    """A model that cannot say what a probe would show under a variant (no prediction, not a wrong one)."""


@dataclass(frozen=True)
class Failed:
    """A probe the learner's code did not answer with a value: it raised, crashed or timed out."""

    what: str


@dataclass(frozen=True)
class Variant:
    """Known mistakes made at once: sorted (id, parameter) pairs; empty is the reference."""

    items: tuple[tuple[str, Hashable], ...] = ()

    @classmethod
    def of(cls, *items: tuple[str, Hashable]) -> "Variant":
        return cls(tuple(sorted(items, key=lambda item: item[0])))

    def has(self, mistake: str) -> bool:
        return any(name == mistake for name, _ in self.items)

    def param(self, mistake: str, default: Any = None) -> Any:
        return next((value for name, value in self.items if name == mistake), default)

    def plus(self, other: "Variant") -> "Variant":
        return Variant.of(*self.items, *other.items)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.items)


REFERENCE = Variant()


class _Recorder:
    """The reference variant, noting every mistake a model asks about."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def has(self, mistake: str) -> bool:
        self.asked.add(mistake)
        return False

    def param(self, mistake: str, default: Any = None) -> Any:
        self.asked.add(mistake)
        return default


def twice(call: Callable[[], Any]) -> Any:
    """The output of ``call``, or NONDETERMINISTIC when a second identical call gives another tensor
    (dropout left active in eval mode)."""
    first, second = call(), call()
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor) and not torch.equal(first, second):
        return NONDETERMINISTIC
    return first


@dataclass(frozen=True)
class Probe:
    """One isolating call into the learner's code, and what each model predicts for it."""

    name: str  # stable, unique within a unit
    label: str  # reads after "passes with" / "fails with": "only out_proj.bias non-zero"
    group: str  # probes that isolate the same thing: "biases", "masks", "sub-layers", ...
    observe: Callable[[], Any]  # runs the learner's code; a tensor, a bool, NONDETERMINISTIC, stats
    predict: Callable[[Any], Any]  # variant -> what that code would give; may raise Unpredictable
    same: Callable[[Any, Any], bool] | None = None  # observation, prediction -> equal? (default: tensors)
    part: str = ""  # for localisation: "the feed-forward sub-layer" (this probe exercises it alone)


def same_output(observed: Any, predicted: Any, *, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Equal observations: tensors of one shape within float64 tolerance (NaN where NaN), or equal values."""
    if isinstance(observed, Failed) or isinstance(predicted, Failed):
        return False
    if isinstance(observed, torch.Tensor) or isinstance(predicted, torch.Tensor):
        if not (isinstance(observed, torch.Tensor) and isinstance(predicted, torch.Tensor)):
            return False
        if observed.shape != predicted.shape or observed.is_complex() or observed.dtype == torch.bool:
            return observed.shape == predicted.shape and bool((observed == predicted).all())
        got, want = observed.detach().to(torch.float64), predicted.detach().to(torch.float64)
        return bool(torch.isclose(got, want, atol=atol, rtol=rtol, equal_nan=True).all())
    return observed == predicted


@dataclass(frozen=True)
class MistakeSpec:
    """One known mistake: its stable id, what to tell the learner, and where it can occur."""

    id: str
    summary: str  # one line, may use {param}; see ``describe``
    hint: str  # what to do about it
    units: tuple[str, ...]  # sdpa | self-attention | multihead | layer-norm | block
    family: str = ""  # mistakes of one family exclude each other (two scales at once are not a pair)
    params: tuple[Hashable, ...] = (None,)  # discrete parameters to try
    fit: Callable[["FitContext"], Iterable[Hashable]] | None = None  # parameters read off the observations
    describe: Callable[[Hashable], str] | None = None  # the summary for a parameter

    def summary_for(self, param: Hashable) -> str:
        return self.describe(param) if self.describe is not None else self.summary


@dataclass
class FitContext:
    """What a fitted mistake may read: the failing probes, their observations, and a predictor."""

    failing: list[Probe]
    observations: dict[str, Any]
    predict: Callable[[Probe, Variant], Any]


@dataclass
class Finding:
    """The outcome of one unit's probes: a named mistake, a localised fault, or nothing wrong."""

    unit: str
    variant: Variant | None = None
    specs: tuple[MistakeSpec, ...] = ()
    passing: list[Probe] = field(default_factory=list)
    failing: list[Probe] = field(default_factory=list)
    ruled_out: frozenset[str] = frozenset()
    unexplained: int = 0  # failing probes the matched variant could not predict
    seconds: float = 0.0
    clues: tuple = ()  # clues.Clue: what the analyses found where no known mistake explains the probes
    ambiguous: frozenset[str] = frozenset()  # matched ids whose other parameters predict the same: no number

    @property
    def clean(self) -> bool:
        return not self.failing

    @property
    def known(self) -> bool:
        return self.variant is not None

    @property
    def localised(self) -> bool:
        """A name, a clue, or a part of the unit that the failing probes exercise alone: something to act on."""
        return self.known or bool(self.clues) or any(p.part for p in self.failing)

    @property
    def mistake(self) -> str:
        return "+".join(self.variant.ids) if self.variant is not None else ""

    @property
    def summary(self) -> str:
        if self.variant is not None:
            return "; and ".join(spec.summary if spec.id in self.ambiguous else
                                 spec.summary_for(self.variant.param(spec.id)) for spec in self.specs)
        if self._clue_first:
            return self.clues[0].summary
        return "no known mistake matches: " + localise(self.passing, self.failing)

    @property
    def _clue_first(self) -> bool:
        """The analyses' first clue goes first where it says more than the probes' parts (``clue.leads``)."""
        return bool(self.clues) and self.variant is None and leads(self.clues[0], {p.part for p in self.failing})

    @property
    def hint(self) -> str:
        return " ".join(spec.hint for spec in self.specs)

    @property
    def evidence(self) -> str:
        if self._clue_first:
            also = [clue.summary for clue in self.clues[1:3]]
            if self.clues[0].rank > 0 and any(p.part for p in self.failing):  # where the probes put it, too
                also.append(localise(self.passing, self.failing))
            return "; ".join(filter(None, [self.clues[0].evidence] + [f"also: {line}" for line in also]))
        said = evidence(self.passing, self.failing)
        if self.clues:  # a named mistake that does not explain every probe: what else the analyses found
            said += "; also: " + self.clues[0].summary
        return said

    def as_dict(self) -> dict[str, str]:
        """What ``grader.results.Diagnosis`` holds (the plugin copies it into the test's result)."""
        return {"mistake": self.mistake, "summary": self.summary, "evidence": self.evidence}


# -- running the probes -----------------------------------------------------------------------------


def observe(probe: Probe, problems: tuple[type[BaseException], ...]) -> Any:
    try:
        return probe.observe()
    except problems as error:  # the learner's code raised or died on this probe: an observation too
        return Failed(type(error).__name__)


@dataclass
class _Predictions:
    """Predictions per (probe, variant), with the mistakes each reference prediction consulted."""

    asked: dict[str, set[str]] = field(default_factory=dict)
    values: dict[tuple[str, Variant], Any] = field(default_factory=dict)

    def reference(self, probe: Probe) -> Any:
        key = (probe.name, REFERENCE)
        if key not in self.values:
            recorder = _Recorder()
            try:
                self.values[key] = probe.predict(recorder)
            except Unpredictable:
                self.values[key] = Unpredictable
            self.asked[probe.name] = recorder.asked
        return self.values[key]

    def get(self, probe: Probe, variant: Variant) -> Any:
        reference = self.reference(probe)
        if not set(variant.ids) & self.asked[probe.name]:
            return reference  # the model never looks at these mistakes on this probe
        key = (probe.name, variant)
        if key not in self.values:
            try:
                self.values[key] = probe.predict(variant)
            except Unpredictable:
                self.values[key] = Unpredictable
            except Exception:  # noqa: BLE001 - a variant that does not apply to these shapes
                self.values[key] = Unpredictable
        return self.values[key]


def _agrees(probe: Probe, observed: Any, predicted: Any) -> bool | None:
    """True/False, or None when the variant makes no prediction for this probe (or the learner's code
    raised on it: no model predicts an exception, so that is evidence of where, not of what)."""
    if predicted is Unpredictable or isinstance(observed, Failed):
        return None
    return (probe.same or same_output)(observed, predicted)


def diagnose(unit: str, probes: Sequence[Probe], specs: Sequence[MistakeSpec], *,
             problems: tuple[type[BaseException], ...] = (Exception,), deadline_s: float = 20.0) -> Finding:
    """Run ``probes`` on the learner's code and name the mistake among ``specs`` that explains them."""
    started = time.monotonic()
    observations: dict[str, Any] = {}
    predictions = _Predictions()
    usable = []
    for probe in probes:
        if time.monotonic() - started > deadline_s:
            break  # a slow learner file: diagnose from what was seen
        if predictions.reference(probe) is Unpredictable:
            continue  # a probe the reference model cannot predict is a bug in the probe set, not evidence
        observations[probe.name] = observe(probe, problems)
        usable.append(probe)
    passing = [p for p in usable if _agrees(p, observations[p.name], predictions.reference(p))]
    failing = [p for p in usable if p not in passing]
    finding = Finding(unit, passing=passing, failing=failing)
    candidates, ruled_out = _candidates(specs, passing, failing, observations, predictions)
    finding.ruled_out = frozenset(ruled_out)
    if failing:
        best = _best_match(candidates, failing, observations, predictions)
        if best is not None:
            finding.variant, finding.unexplained = best
            by_id = {spec.id: spec for spec in specs}
            finding.specs = tuple(by_id[name] for name in finding.variant.ids)
            finding.ambiguous = _ambiguous(finding, candidates, observations, predictions)
    finding.seconds = time.monotonic() - started
    return finding


def _ambiguous(finding: Finding, candidates, observations, predictions) -> frozenset[str]:
    """Ids of the match whose parameter the probes cannot pin down: another parameter of the same mistake,
    said differently, predicts every failing probe as well (a fill of -1e5 and of -1e9 on scores that never
    reach either). Their summary then names no number."""
    unclear = set()
    for spec in finding.specs:
        if spec.describe is None:
            continue
        chosen = finding.variant.param(spec.id)
        for variant, other in candidates:
            param = variant.param(spec.id)
            if other.id != spec.id or param == chosen or spec.describe(param) == spec.describe(chosen):
                continue
            trial = Variant.of(*((name, param if name == spec.id else value) for name, value in finding.variant.items))
            if _score(trial, finding.failing, observations, predictions) == finding.unexplained:
                unclear.add(spec.id)
                break
    return frozenset(unclear)


def _candidates(specs, passing, failing, observations, predictions) -> tuple[list[tuple[Variant, MistakeSpec]], set]:
    """Single-mistake variants that no passing probe contradicts, and the ids every parameter of which is."""
    context = FitContext(failing, observations, predictions.get)
    found, ruled_out = [], set()
    for spec in specs:
        params = list(spec.params) if spec.fit is None else list(spec.fit(context)) if failing else []
        alive = False
        for param in params:
            variant = Variant.of((spec.id, param))
            if any(_agrees(p, observations[p.name], predictions.get(p, variant)) is False for p in passing):
                continue
            alive = True
            found.append((variant, spec))
        if not alive and params:
            ruled_out.add(spec.id)
    return found, ruled_out


def _score(variant: Variant, failing, observations, predictions) -> int | None:
    """Failing probes ``variant`` cannot predict, or None if it contradicts one (or predicts none)."""
    unknown = 0
    for probe in failing:
        verdict = _agrees(probe, observations[probe.name], predictions.get(probe, variant))
        if verdict is False:
            return None
        unknown += verdict is None
    return unknown if unknown < len(failing) else None


PAIR_BUDGET_S = 4.0  # pairs are tried in catalogue order; past this, the best single (if any) stands


def _best_match(candidates, failing, observations, predictions) -> tuple[Variant, int] | None:
    """The first single that predicts every failing probe; else one that contradicts none and predicts
    most of them; else the first pair that predicts them all; else the best partial single."""
    singles = []
    for variant, _ in candidates:
        score = _score(variant, failing, observations, predictions)
        if score == 0:
            return variant, 0
        if score is not None:
            singles.append((score, variant))
    best = min(singles, key=lambda item: item[0]) if singles else None
    if best is not None and best[0] <= len(failing) // 4:
        return best[1], best[0]  # what it cannot predict, a pair containing it could not either
    started = time.monotonic()
    for count, ((one, first), (other, second)) in enumerate(combinations(candidates, 2)):
        if first.id == second.id or (first.family and first.family == second.family):
            continue
        if count % 256 == 0 and time.monotonic() - started > PAIR_BUDGET_S:
            break
        pair = one.plus(other)
        if _score(pair, failing, observations, predictions) == 0:
            return pair, 0
    return (best[1], best[0]) if best is not None else None
