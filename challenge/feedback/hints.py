"""Which hint `challenge hint` offers next: the one aimed at what the latest
failed attempt shows.

Each hint in ``milestone.yaml`` may name the mistakes (the judge's diagnosis
ids) and the test families it addresses. The latest failed attempt's results
document says which mistakes were diagnosed and which families failed. The
offer is, in order: the untaken hint addressing the diagnosis that explains
most failing tests; else the untaken hint whose families hold most of the
undiagnosed failures (at least ``FAMILY_SHARE`` of them: a family fails for many
reasons, so a weaker match would point elsewhere); else the next hint in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from challenge.feedback.failure_groups import family_of, group_failures, tests_from_document
from milestones import Hint

FAMILY_SHARE = 0.5


@dataclass(frozen=True)
class Evidence:
    """What a failed attempt's results document shows."""

    mistakes: Counter = field(default_factory=Counter)  # mistake id -> failing tests it explains
    summaries: dict = field(default_factory=dict)  # mistake id -> its one-line summary
    undiagnosed: Counter = field(default_factory=Counter)  # test family -> failing tests without a diagnosis


@dataclass(frozen=True)
class HintOffer:
    index: int | None  # into the milestone's hints; None: every hint is taken
    aimed_at: str | None = None  # the mistake id or test family it was chosen for
    reason: str = ""  # why this one, for the learner


def evidence_of(tests: Sequence) -> Evidence:
    """The diagnoses and undiagnosed families of a run's tests (``TestResult`` or ``TestView``)."""
    evidence = Evidence()
    for group in group_failures(tests):
        if group.mistake:
            evidence.mistakes[group.mistake] += len(group.tests)
            evidence.summaries.setdefault(group.mistake, group.title)
        elif not group.diagnosed:
            for test in group.tests:
                evidence.undiagnosed[family_of(test)] += 1
    return evidence


def read_evidence(path: Path) -> Evidence | None:
    """The evidence in a saved results document; None when it cannot be read."""
    from challenge.feedback.results_document import read_results

    try:
        return evidence_of(tests_from_document(read_results(path)))
    except (OSError, ValueError):  # missing, or not a results document (UntrustedJSON)
        return None


def offer_hint(hints: Sequence[Hint], taken: set[int], evidence: Evidence | None) -> HintOffer:
    untaken = [i for i in range(len(hints)) if i not in taken]
    if not untaken:
        return HintOffer(None)
    if evidence is not None:
        for mistake, count in evidence.mistakes.most_common():
            aimed = next((i for i in untaken if mistake in hints[i].mistakes), None)
            if aimed is not None:
                tests = f"{count} test{'s' if count != 1 else ''}"
                return HintOffer(aimed, mistake, f"aimed at what your latest attempt shows: "
                                                 f"{evidence.summaries.get(mistake, mistake)} ({tests})")
        failing = sum(evidence.undiagnosed.values())
        covered = {i: sum(n for family, n in evidence.undiagnosed.items() if family in hints[i].families)
                   for i in untaken}
        best = max(untaken, key=lambda i: covered[i])  # the first of equals: hints keep their order
        if failing and covered[best] >= FAMILY_SHARE * failing:
            family = max((f for f in evidence.undiagnosed if f in hints[best].families),
                         key=lambda f: evidence.undiagnosed[f])
            return HintOffer(best, family, f"aimed at the tests your latest attempt failed ({covered[best]} of "
                                           f"{failing} failing without a diagnosis)")
    return HintOffer(untaken[0], None, "the next one in order")
