"""Mutant catalogues (``mutants.yaml``): the schema, applying edits, stale edits, and the real catalogues."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from milestones import MilestoneFormatError, load_registry
from milestones.mutants import Edit, Mutant, MutantCatalogue, StaleMutant, mutant_source, read_catalogue

REGISTRY = load_registry()

REFERENCE = '''"""A reference."""

import math


def attend(q, k):
    scores = q @ k / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores


def other(mask):
    if mask is not None:
        return 1
    return 0
'''


def _mutant(*edits: tuple[str, str], name: str = "m") -> Mutant:
    return Mutant(name=name, description="d", expect="e", edits=[Edit(find=f, replace=r) for f, r in edits])


def test_an_edit_is_made_at_the_indentation_it_is_found_at():
    mutant = _mutant(("scores = q @ k / math.sqrt(q.size(-1))\n", "scores = q @ k  # BUG\nscores = scores * 1\n"))
    made = mutant.apply(REFERENCE)
    assert "    scores = q @ k  # BUG\n    scores = scores * 1\n    if mask" in made
    assert made.replace("    scores = q @ k  # BUG\n    scores = scores * 1\n",
                        "    scores = q @ k / math.sqrt(q.size(-1))\n") == REFERENCE


def test_a_multi_line_find_keeps_relative_indentation_and_empty_replace_deletes():
    find = 'if mask is not None:\n    scores = scores.masked_fill(~mask, float("-inf"))\n'
    made = _mutant((find, "")).apply(REFERENCE)
    assert "masked_fill" not in made and "    scores = q @ k / math.sqrt(q.size(-1))\n    return scores" in made


def test_several_edits_apply_together_without_ordering():
    one = ("import math\n", "import math  # one\n")
    two = ("return 0\n", "return 2  # two\n")
    assert _mutant(one, two).apply(REFERENCE) == _mutant(two, one).apply(REFERENCE)
    assert "import math  # one" in _mutant(one, two).apply(REFERENCE)


@pytest.mark.parametrize("find, count", [("if mask is not None:\n", 2),  # ambiguous: twice
                                         ("scores = q @ k / d\n", 0),  # the reference changed: gone
                                         ("    import math\n", 0)])  # indentation is relative, not absolute: 0
def test_a_find_that_does_not_occur_exactly_once_is_stale_by_name(find, count):
    with pytest.raises(StaleMutant) as stale:
        _mutant(("import math\n", "import math\n"), (find, "x\n"), name="no_scaling").apply(REFERENCE)
    assert stale.value.name == "no_scaling"
    assert stale.value.problems == [f"edit 2: find text ('{find.strip()}') occurs {count} times in reference.py, "
                                    "not exactly once"]
    assert "stale mutant 'no_scaling'" in str(stale.value)


def test_overlapping_edits_are_stale():
    first = ("def attend(q, k):\n    scores = q @ k / math.sqrt(q.size(-1))\n", "x\n")
    second = ("scores = q @ k / math.sqrt(q.size(-1))\nif mask is not None:\n", "y\n")
    with pytest.raises(StaleMutant, match="edits 1 and 2 overlap"):
        _mutant(first, second).apply(REFERENCE)


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mutants.yaml").write_text(text, encoding="utf-8")
    return tmp_path


GOOD_ENTRY = """  - name: no_scaling
    description: the scores are not scaled
    expect: no 1/sqrt(d_k) scaling
    edits:
      - find: |
          scores = q @ k / math.sqrt(q.size(-1))
        replace: |
          scores = q @ k
"""


def test_a_valid_catalogue_reads_and_its_mutant_applies(tmp_path):
    folder = _write(tmp_path, "format_version: 1\nmutants:\n" + GOOD_ENTRY)
    (folder / "reference.py").write_text(REFERENCE, encoding="utf-8")
    catalogue = read_catalogue(folder)
    assert [m.name for m in catalogue.mutants] == ["no_scaling"] and catalogue.get("no_scaling").check_budget_s is None
    assert "    scores = q @ k\n" in mutant_source(folder, "no_scaling")
    with pytest.raises(KeyError, match="no mutant named 'zebra'"):
        catalogue.get("zebra")


@pytest.mark.parametrize("text, problem", [
    (GOOD_ENTRY.replace("    expect: no 1/sqrt(d_k) scaling\n", ""),
     "mutant 'no_scaling' (#2): expect: Field required"),
    (GOOD_ENTRY.replace("    edits:", "    colour: red\n    edits:"),
     "mutant 'no_scaling' (#2): colour: unknown field"),
    (GOOD_ENTRY.replace("name: no_scaling", "name: No Scaling"), "mutant 'No Scaling' (#2): name: String should match"),
    (GOOD_ENTRY.replace("the scores are not scaled", "|\n      two\n      lines"), "description must be one line"),
    (GOOD_ENTRY.replace("scores = q @ k / math.sqrt(q.size(-1))", ""), "mutant 'no_scaling' (#2): edits.0.find"),
    (GOOD_ENTRY.replace("    edits:\n", "    edits: []\n    old_edits:\n"), "mutant 'no_scaling' (#2): edits:"),
    (GOOD_ENTRY.replace("    description:", "    check_budget_s: 0\n    description:"), "check_budget_s"),
    (GOOD_ENTRY, "mutant and alternative names must be unique; repeated: ['no_scaling']"),
])
def test_a_defective_entry_is_named_with_the_file(tmp_path, text, problem):
    folder = _write(tmp_path, "format_version: 1\nmutants:\n" + GOOD_ENTRY + text)
    with pytest.raises(MilestoneFormatError) as error:
        read_catalogue(folder)
    assert error.value.path == folder / "mutants.yaml"
    assert any(problem in p for p in error.value.problems), error.value.problems


@pytest.mark.parametrize("text, problem", [("mutants: [\n", "not valid YAML"), ("- a list\n", "expected a mapping"),
                                           ("format_version: 9\nmutants: []\n", "newer than this harness")])
def test_a_malformed_file_is_refused_clearly(tmp_path, text, problem):
    with pytest.raises(MilestoneFormatError, match=problem):
        read_catalogue(_write(tmp_path, text))
    with pytest.raises(MilestoneFormatError, match="file is missing"):
        read_catalogue(tmp_path / "elsewhere")


# -- the real catalogues ---------------------------------------------------------------------------


@pytest.mark.parametrize("milestone", REGISTRY.milestones, ids=lambda m: m.id)
def test_every_catalogued_mutant_applies_and_parses(milestone):
    folder = REGISTRY.folder(milestone)
    reference = (folder / "reference.py").read_text(encoding="utf-8")
    catalogue = read_catalogue(folder)
    assert catalogue.mutants, "an empty catalogue"
    for mutant in catalogue.mutants:
        made = mutant.apply(reference)  # raises StaleMutant, by name, if the reference moved
        assert made != reference, f"{mutant.name} changes nothing"
        ast.parse(made, filename=f"{milestone.folder}/{mutant.name}")


def test_catalogues_stay_small():
    """The issue's budget: no more than 2,000 lines under milestones/*/mutants*."""
    # Milestone folders only: the package's own mutants.py (and its bytecode) is code, not a catalogue.
    lines = sum(len(p.read_text(encoding="utf-8").splitlines())
                for m in REGISTRY.milestones for p in REGISTRY.folder(m).glob("mutants*") if p.is_file())
    assert 0 < lines <= 2000
    assert not list(REGISTRY.root.glob("*/mutants/*.py")), "mutants are data now: no copies of the reference"


def test_an_empty_catalogue_is_valid():
    assert MutantCatalogue.model_validate({"format_version": 1}).mutants == []
