"""`challenge dev check`: every catalogue passes it, and it catches a broken catalogue.

Each run of an entry is one sandboxed run of a milestone's hidden tests (a few
seconds), so the full-catalogue tests take about a minute per milestone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenge.dev import check as devcheck
from challenge.dev.catalogue import Entry, catalogue, mutant_entry, read_alternative
from challenge.dev.check import (DEFAULT_SEED, CheckItem, DevCheckReport, check_entry, check_milestone,
                                 has_hidden_tests, schema_checks)
from grader.results import Diagnosis, RunResult
from grader.results import TestResult as Outcome
from milestones import load_registry
from milestones.mutants import Edit, read_catalogue
from milestones.tasks import TASKS
from tests.data_sets import MISSING_REASON, REQUIRE_ENV, real_data_folder

REGISTRY = load_registry()
CHECKED = [m for m in REGISTRY.milestones if has_hidden_tests(m) and m.kind in devcheck.KINDS]


def _problems(items: list[CheckItem]) -> str:
    return "\n".join(f"{i.item}: expected {i.expected}, got {i.got}\n  {i.detail}" for i in items if not i.ok)


NO_DATA = pytest.mark.skipif(real_data_folder() is None and os.environ.get(REQUIRE_ENV) != "1",
                             reason=f"this milestone's task {MISSING_REASON}")


def _marks(m) -> list:
    """The catalogue proof is the slow set (about a minute per milestone); tasks that read a corpus need the data."""
    task = m.training.task if m.training else m.grading.task
    needs_data = task is not None and TASKS[task].corpus is not None
    return [pytest.mark.slow] + ([NO_DATA] if needs_data else [])


@pytest.mark.parametrize("milestone", [pytest.param(m, id=m.id, marks=_marks(m)) for m in CHECKED])
def test_catalogue_passes_dev_check(milestone):
    items = check_milestone(registry=REGISTRY, milestone=milestone, seeds=[DEFAULT_SEED])
    assert all(i.ok for i in items), _problems(items)
    roles = {i.item.split()[0] for i in items}
    assert {"stub", "reference", "mutant", "alternative"} <= roles, "dev check ran no catalogue entries"


# -- a broken catalogue is reported, never waved through ----------------------------------------------

ATTENTION = REGISTRY.get("attention")
FOLDER = REGISTRY.folder(ATTENTION)
NO_SCALING = read_catalogue(FOLDER).get("no_scaling")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def _check(entry: Entry) -> CheckItem:
    return check_entry(registry=REGISTRY, milestone=ATTENTION, entry=entry, seeds=[DEFAULT_SEED])


def _mutant(**changes) -> Entry:
    return mutant_entry(milestone=ATTENTION, reference=FOLDER / "reference.py",
                        mutant=NO_SCALING.model_copy(update=changes))


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_a_mutant_identical_to_the_reference_is_reported():
    same = Edit(find="import math\n", replace="import math\n")
    item = _check(_mutant(name="not_a_bug", expect="values differ", edits=[same]))
    assert item.status == "fail" and "survived" in item.got and item.item == "mutant not_a_bug"


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_a_mutant_caught_without_naming_its_bug_is_reported():
    item = _check(_mutant(name="unnamed", expect="zebra"))
    assert item.status == "fail" and "not named" in item.got and "zebra" in item.detail


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_the_catalogued_mutant_is_caught_and_named():
    item = _check(_mutant())
    assert item.status == "ok" and item.got.startswith("caught and named"), item


def _result(*tests) -> RunResult:
    return RunResult(milestone="attention", status="fail" if any(t.status != "pass" for t in tests) else "pass",
                     tests=list(tests))


def _failed(name: str, *, message: str = "values differ", hint: str = "", mistake: str = "") -> Outcome:
    diagnosis = Diagnosis(mistake, f"the probes' summary of {mistake}", "evidence") if mistake else None
    return Outcome(name, "fail", message, hint, diagnosis=diagnosis)


def test_a_mutant_is_named_only_by_its_first_failing_test():
    mutant = _mutant(expect="no-scale")
    first, later = _failed("first", mistake="mask-inverted"), _failed("later", mistake="no-scale")
    verdict = devcheck.judge(mutant, _result(first, later), DEFAULT_SEED)
    assert not verdict.ok and "not named first" in verdict.got and "mask-inverted" in verdict.detail
    assert devcheck.judge(mutant, _result(later, first), DEFAULT_SEED).ok


def test_a_message_text_may_be_named_by_a_later_test_and_the_row_says_so():
    mutant = _mutant(expect="zebra crossing")
    first, later = _failed("first", message="values differ"), _failed("later", message="a zebra crossing")
    verdict = devcheck.judge(mutant, _result(first, later), DEFAULT_SEED)
    assert verdict.ok and "later test" in verdict.got
    assert not devcheck.judge(mutant, _result(first), DEFAULT_SEED).ok


@pytest.mark.parametrize("said", [{"mistake": "no-scale"}, {"message": "the no-scale mutant's words"},
                                  {"hint": "see no-scale"}])
def test_the_first_failure_names_the_mistake_by_diagnosis_message_or_hint(said):
    assert devcheck.judge(_mutant(expect="no-scale"), _result(_failed("first", **said)), DEFAULT_SEED).ok


@pytest.mark.parametrize("role", ["reference", "alternative"])
@pytest.mark.parametrize("extra", [{"hint": "Is epsilon inside the sqrt?"},
                                   {"diagnosis": Diagnosis("no-scale", "no scaling", "probes")}])
def test_a_valid_solution_with_a_hint_or_diagnosis_is_reported(role, extra):
    entry = Entry(ATTENTION.id, role, role, FOLDER / "reference.py")
    accused = Outcome("passes", "pass", **extra)
    verdict = devcheck.judge(entry, _result(accused), DEFAULT_SEED)
    assert not verdict.ok and "passes" in verdict.detail
    assert devcheck.judge(entry, _result(Outcome("passes", "pass")), DEFAULT_SEED).ok


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_a_failing_alternative_and_a_passing_stub_are_reported(tmp_path):
    wrong = _write(tmp_path, "wrong", '"""Alternative: in fact the no_scaling mutant."""\n' + _mutant().text())
    assert _check(read_alternative(milestone=ATTENTION, path=wrong)).status == "fail"
    solved = Entry(ATTENTION.id, "stub", "stub", FOLDER / "reference.py")
    item = _check(solved)
    assert item.status == "fail" and "stub passes" in item.detail


def test_schema_problems_are_reported_without_running(tmp_path):
    bare = _write(tmp_path, "bare", "x = 1\n")
    broken = _write(tmp_path, "broken", '"""Alternative: does not parse."""\ndef f(:\n')
    entries = [read_alternative(milestone=ATTENTION, path=p) for p in (bare, broken)]
    assert any("docstring" in p for p in entries[0].problems)
    assert any("parsed" in p for p in entries[1].problems)
    items = schema_checks(registry=REGISTRY, milestone=ATTENTION, entries=entries,
                          catalogue_problems=["mutant 'x' (#1): expect: Field required"])
    failed = {i.item: i for i in items if not i.ok}
    assert {"schema: alternative bare", "schema: alternative broken", "schema: mutants", "schema: mutants.yaml",
            "schema: alternatives"} <= set(failed)
    assert "mutant 'x' (#1): expect" in failed["schema: mutants.yaml"].detail


def test_the_real_catalogue_is_read_from_the_milestone_folder():
    entries, problems = catalogue(registry=REGISTRY, milestone=ATTENTION)
    assert [e.role for e in entries[:2]] == ["stub", "reference"] and problems == []
    mutants = [e for e in entries if e.role == "mutant"]
    assert len(mutants) >= devcheck.KINDS[ATTENTION.kind].min_mutants
    assert all(e.expect and e.description for e in mutants)
    assert all(e.path == FOLDER / "reference.py" and e.mutant for e in mutants)


def test_milestones_without_hidden_tests_or_kind_are_not_waved_through(monkeypatch):
    ghost = ATTENTION.model_copy(update={"folder": "99_ghost"})
    items = check_milestone(registry=REGISTRY, milestone=ghost, seeds=[DEFAULT_SEED])
    assert [i.status for i in items if i.item == "hidden tests"] == ["skip"]
    assert not all(i.ok for i in items)  # no README, no reference, no stub
    monkeypatch.setattr(devcheck, "KINDS", {})
    items = check_milestone(registry=REGISTRY, milestone=ATTENTION, seeds=[DEFAULT_SEED])
    assert [i.status for i in items if i.item == "runs"] == ["fail"]


def test_command_renders_failures_and_exits_1(monkeypatch):
    from challenge.cli import app
    from challenge.commands import dev

    report = DevCheckReport(seeds=[1], items=[
        CheckItem("attention", "reference", "passes", "pass, 18/18 tests pass", "ok"),
        CheckItem("attention", "mutant sneaky", "fails, naming 'x'", "survived: pass, 18/18 tests pass (seed 1)",
                  "fail", "every test passes for this mutant")])
    seen = {}

    def fake_dev_check(**kwargs):
        seen.update(kwargs)
        return report

    monkeypatch.setattr(dev, "dev_check", fake_dev_check)
    result = CliRunner().invoke(app, ["dev", "check", "attention", "--seeds", "3", "--seed", "5"])
    assert result.exit_code == 1
    assert "mutant sneaky" in result.output and "every test passes" in result.output
    assert seen["n_seeds"] == 3 and seen["seed"] == 5 and [m.id for m in seen["milestones"]] == ["attention"]
    result = CliRunner().invoke(app, ["dev", "check", "--json"])
    assert result.exit_code == 1 and '"ok": false' in result.output
    assert CliRunner().invoke(app, ["dev", "check", "--seeds", "0"]).exit_code != 0


def test_installed_command_exits_1_when_a_check_fails(monkeypatch):
    """Through ``challenge.cli.main``, the console-script entry point (what CI runs)."""
    from challenge.cli import main
    from challenge.commands import dev

    failing = DevCheckReport(seeds=[1], items=[CheckItem("attention", "reference", "passes", "fail", "fail")])
    monkeypatch.setattr(dev, "dev_check", lambda **kwargs: failing)
    with pytest.raises(SystemExit) as done:
        main(["dev", "check", "attention"])
    assert done.value.code == 1
