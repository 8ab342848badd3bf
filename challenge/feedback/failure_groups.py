"""Failures grouped by what is wrong: one group per distinct diagnosis, then,
for failures the judge could not diagnose, one group per test family (families
whose failures carry the very same hint share one group: the same advice,
read once).

A catalogued mistake usually fails many tests at once (no 1/sqrt(d_k) scaling
fails 16 of attention's 21); the learner needs to read it once, with the list of
tests it explains. Pure data here: ``challenge.feedback.render_results`` draws it and
``challenge.feedback.hints`` aims hints with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# "name [float64]" -> "name": parametrised cases of one test share everything before the brackets.
_PARAMETERS = re.compile(r"\s*\[[^\]]*\]\s*$")


def family_title(test: Any) -> str:
    """The readable name of a test's family: its name without the parameters."""
    return _PARAMETERS.sub("", str(test.name)) or str(test.name)


def family_of(test: Any) -> str:
    """The test's family (the hidden test function); older results documents have none, then its title."""
    return str(getattr(test, "family", "") or "") or family_title(test)


@dataclass(frozen=True)
class DiagnosisView:
    mistake: str = ""
    summary: str = ""
    evidence: str = ""


@dataclass(frozen=True)
class TestView:
    """A test of a results document read as plain JSON (the report and `hint` do not load the grader)."""

    name: str
    status: str
    message: str = ""
    hint: str = ""
    output: str = ""
    family: str = ""
    diagnosis: DiagnosisView | None = None


def tests_from_document(document: Any) -> list[TestView]:
    """The tests of a (checked) results document; anything mistyped reads as empty, never raises."""
    tests = document.get("tests") if isinstance(document, dict) else None
    found = []
    for raw in tests if isinstance(tests, list) else []:
        if not isinstance(raw, dict):
            continue
        text = {key: raw.get(key) if isinstance(raw.get(key), str) else ""
                for key in ("name", "status", "message", "hint", "output", "family")}
        given = raw.get("diagnosis")
        diagnosis = (DiagnosisView(**{key: given.get(key) if isinstance(given.get(key), str) else ""
                                      for key in ("mistake", "summary", "evidence")})
                     if isinstance(given, dict) else None)
        found.append(TestView(**text, diagnosis=diagnosis))
    return found


def failure_key(test: Any) -> tuple[str, str]:
    """(key, label) of what a failing test shows: its diagnosis where it has one, else its family."""
    diagnosis = getattr(test, "diagnosis", None)
    if diagnosis is not None and (diagnosis.mistake or diagnosis.summary):
        return (diagnosis.mistake or diagnosis.summary, diagnosis.summary or diagnosis.mistake)
    return (family_of(test), family_title(test))


@dataclass(frozen=True)
class FailureGroup:
    """Failing tests that share one diagnosis, or (without one) one test family."""

    tests: tuple[Any, ...]  # grader.results.TestResult, in the run's order
    mistake: str = ""  # the diagnosis' id ("" for a family group, or a diagnosis that only localises)
    summary: str = ""  # the diagnosis in one line ("" for a family group)
    evidence: str = ""
    hint: str = ""  # undiagnosed failures: the hint they all share ("" when grouped by family alone)

    @property
    def diagnosed(self) -> bool:
        return bool(self.summary or self.mistake)

    @property
    def example(self) -> Any:
        return self.tests[0]

    @property
    def title(self) -> str:
        """What is wrong, in one line: the diagnosis, or the family's name."""
        if self.diagnosed:
            return self.summary or self.mistake
        if self.hint and len(self.families()) > 1:
            return self.hint
        return family_title(self.example)

    @property
    def status(self) -> str:
        """'error' when every test in it errored (the code raised), else 'fail'."""
        return "error" if all(t.status == "error" for t in self.tests) else "fail"

    def families(self) -> list[tuple[str, int]]:
        """(family title, failing tests) in the run's order: the tests this group explains."""
        counts: dict[str, int] = {}
        for test in self.tests:
            counts[family_title(test)] = counts.get(family_title(test), 0) + 1
        return list(counts.items())


def _diagnosis_key(test: Any) -> tuple[str, str, str] | None:
    diagnosis = getattr(test, "diagnosis", None)
    if diagnosis is None:
        return None
    mistake, summary = str(diagnosis.mistake or ""), str(diagnosis.summary or "")
    if not (mistake or summary):
        return None
    # Several tests may localise without naming a mistake: those group by what they say.
    return (mistake, "" if mistake else summary, str(diagnosis.evidence or ""))


def group_failures(tests: Iterable[Any]) -> list[FailureGroup]:
    """Diagnosed groups first (most tests first, then in the run's order), then the undiagnosed ones in the
    run's order: by family, families with one identical hint together."""
    diagnosed: dict[tuple[str, str], list[Any]] = {}
    evidence: dict[tuple[str, str], tuple[str, str]] = {}
    undiagnosed: dict[tuple[str, str], list[Any]] = {}  # ("hint", text) or ("family", name)
    for test in tests:
        if test.status == "pass":
            continue
        key = _diagnosis_key(test)
        if key is None:
            hint = str(test.hint or "").strip()
            undiagnosed.setdefault(("hint", hint) if hint else ("family", family_of(test)), []).append(test)
            continue
        mistake, by_summary, said = key
        diagnosed.setdefault((mistake, by_summary), []).append(test)
        if (mistake, by_summary) not in evidence:
            evidence[(mistake, by_summary)] = (str(test.diagnosis.summary or mistake), said)
    order = sorted(diagnosed, key=lambda k: -len(diagnosed[k]))  # stable: ties keep the run's order
    groups = [FailureGroup(tuple(diagnosed[k]), mistake=k[0], summary=evidence[k][0], evidence=evidence[k][1])
              for k in order]
    groups += [FailureGroup(tuple(found), hint=str(found[0].hint or "").strip()) for found in undiagnosed.values()]
    return groups


def first_to_fix(groups: Sequence[FailureGroup]) -> FailureGroup | None:
    """The group to work on first: the diagnosis that explains most tests, else the first failing family."""
    return groups[0] if groups else None
