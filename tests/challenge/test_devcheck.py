"""`challenge dev check`: every catalogue passes it, and it catches a broken catalogue.

Each run of an entry is one sandboxed run of a milestone's hidden tests (a few
seconds), so the full-catalogue tests take about a minute per milestone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenge import devcheck
from challenge.devcheck import (DEFAULT_SEED, CheckItem, DevCheckReport, Entry, catalogue, check_entry,
                                check_milestone, has_hidden_tests, read_entry, schema_checks)
from milestones import load_registry
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


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def _check(role: str, path: Path) -> CheckItem:
    entry = read_entry(milestone=ATTENTION, role=role, path=path)
    return check_entry(registry=REGISTRY, milestone=ATTENTION, entry=entry, seeds=[DEFAULT_SEED])


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_a_mutant_identical_to_the_reference_is_reported(tmp_path):
    reference = (FOLDER / "reference.py").read_text(encoding="utf-8")
    fake = _write(tmp_path, "not_a_bug", '"""Mutant: nothing wrong at all."""\nEXPECT = "values differ"\n' + reference)
    item = _check("mutant", fake)
    assert item.status == "fail" and "survived" in item.got


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_a_mutant_caught_without_naming_its_bug_is_reported(tmp_path):
    text = (FOLDER / "mutants" / "no_scaling.py").read_text(encoding="utf-8")
    renamed = _write(tmp_path, "unnamed", text.replace("EXPECT = 'no 1/sqrt(d_k) scaling'", "EXPECT = 'zebra'"))
    item = _check("mutant", renamed)
    assert item.status == "fail" and "not named" in item.got and "zebra" in item.detail


@pytest.mark.slow  # sandboxed runs of the catalogue proof
def test_a_failing_alternative_and_a_passing_stub_are_reported(tmp_path):
    wrong = shutil.copy(FOLDER / "mutants" / "no_scaling.py", tmp_path / "wrong.py")
    assert _check("alternative", Path(wrong)).status == "fail"
    solved = Entry(ATTENTION.id, "stub", "stub", FOLDER / "reference.py")
    item = check_entry(registry=REGISTRY, milestone=ATTENTION, entry=solved, seeds=[DEFAULT_SEED])
    assert item.status == "fail" and "stub passes" in item.detail


def test_schema_problems_are_reported_without_running(tmp_path):
    bare = _write(tmp_path, "bare", "x = 1\n")
    broken = _write(tmp_path, "broken", '"""Mutant: does not parse."""\nEXPECT = "x"\ndef f(:\n')
    entries = [read_entry(milestone=ATTENTION, role="mutant", path=p) for p in (bare, broken)]
    assert any("docstring" in p for p in entries[0].problems) and any("EXPECT" in p for p in entries[0].problems)
    assert any("parsed" in p for p in entries[1].problems)
    items = schema_checks(registry=REGISTRY, milestone=ATTENTION, entries=entries)
    failed = {i.item for i in items if not i.ok}
    assert {"schema: mutant bare", "schema: mutant broken", "schema: mutants", "schema: alternatives"} <= failed


def test_the_real_catalogue_is_read_from_the_milestone_folder():
    entries = catalogue(registry=REGISTRY, milestone=ATTENTION)
    assert [e.role for e in entries[:2]] == ["stub", "reference"]
    mutants = [e for e in entries if e.role == "mutant"]
    assert len(mutants) >= devcheck.KINDS[ATTENTION.kind].min_mutants
    assert all(e.expect and e.description for e in mutants)


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
