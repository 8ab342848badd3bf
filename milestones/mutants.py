"""A milestone's mutant catalogue, ``milestones/NN_id/mutants.yaml``: plausible wrong
solutions kept as small edits to ``reference.py`` rather than as copies of it.

Each entry names one mistake, says in one line what is wrong, gives the text a
failing hidden test must show (``expect``) and the edit(s) that make the mistake::

    format_version: 1
    mutants:
      - name: no_scaling
        description: the scores are not scaled by 1/sqrt(d_k)
        expect: no 1/sqrt(d_k) scaling
        edits:
          - find: |
              scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
            replace: |
              scores = q @ k.transpose(-2, -1)  # (..., T_q, T_k)  BUG: no scaling

An edit's ``find`` is a block of whole lines of ``reference.py``, written with
any common indentation removed (as a YAML ``|`` block gives it): it matches
where the reference holds those lines at one indentation, and ``replace`` is
put there at that same indentation. Every ``find`` must occur exactly once in
the reference and no two may overlap; otherwise the mutant is *stale* (the
reference changed under it) and applying it raises :class:`StaleMutant`,
naming the mutant and the edit.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from milestones.errors import MilestonesError
from milestones.registry import read_yaml_mapping
from milestones.schema import MilestoneFormatError, _Strict, describe_validation_error

CATALOGUE_FILE = "mutants.yaml"


class StaleMutant(MilestonesError):
    """A mutant whose edits no longer apply to the reference."""

    def __init__(self, name: str, problems: list[str]):
        self.name = name
        self.problems = problems
        super().__init__(f"stale mutant '{name}': " + "; ".join(problems))


class Edit(_Strict):
    find: str = Field(description="Whole lines of reference.py (common indentation removed) that occur there "
                                  "exactly once.")
    replace: str = Field(description="The lines put in their place, at the same indentation ('' deletes them).")

    @field_validator("find")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("find is empty: give the line(s) of reference.py to change")
        return value


class EditedReference(_Strict):
    """A variant of reference.py written as its edits: a mutant (wrong) or an alternative (valid)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short name, unique in the catalogue.")
    description: str = Field(min_length=1, description="One line: what is wrong (a mutant) or what differs (an "
                                                       "alternative).")
    edits: list[Edit] = Field(min_length=1, description="The change(s) to reference.py.")

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("description must be one line")
        return value.strip()

    def apply(self, reference: str) -> str:
        """``reference`` with every edit made; :class:`StaleMutant` if one does not apply."""
        lines = reference.split("\n")
        spans, problems = [], []
        for number, edit in enumerate(self.edits, 1):
            find = _block(edit.find)
            places = [(start, indent) for start in range(len(lines) - len(find) + 1)
                      if (indent := _match(lines, start, find)) is not None]
            if len(places) != 1:
                first = next(line for line in find if line.strip())
                problems.append(f"edit {number}: find text ('{first.strip()}'"
                                f"{' ...' if len(find) > 1 else ''}) occurs {len(places)} times in reference.py, "
                                "not exactly once")
                continue
            start, indent = places[0]
            spans.append((start, start + len(find), [indent + line if line else "" for line in _block(edit.replace)],
                          number))
        spans.sort()
        for (_, end, _, one), (start, _, _, other) in zip(spans, spans[1:]):
            if start < end:
                problems.append(f"edits {one} and {other} overlap")
        if problems:
            raise StaleMutant(self.name, problems)
        for start, end, new, _ in reversed(spans):
            lines[start:end] = new
        return "\n".join(lines)


class Mutant(EditedReference):
    expect: str = Field(min_length=1, description="Text that a failing test's message or hint must contain "
                                                  "(case-insensitive): the grader names the mistake.")
    check_budget_s: float | None = Field(None, gt=0, description="Training milestones: seconds of training "
                                                                 "before grading, instead of dev check's default.")


class AlternativeEdit(EditedReference):
    """A valid solution that differs from the reference in one place or a few: kept as edits, like a mutant, so
    that it follows the reference (a copy would drift) and a reader sees the whole difference."""


class MutantCatalogue(_Strict):
    format_version: int = Field(description="Schema version of this file.")
    mutants: list[Mutant] = Field(default_factory=list)
    alternatives: list[AlternativeEdit] = Field(default_factory=list, description="Alternatives written as edits "
                                                "of reference.py (whole other solutions live in alternatives/).")

    @model_validator(mode="after")
    def _unique_names(self) -> "MutantCatalogue":
        names = [m.name for m in [*self.mutants, *self.alternatives]]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"mutant and alternative names must be unique; repeated: {twice}")
        return self

    def get(self, name: str) -> Mutant:
        for mutant in self.mutants:
            if mutant.name == name:
                return mutant
        raise KeyError(f"no mutant named '{name}' (known: {[m.name for m in self.mutants]})")


def _block(text: str) -> list[str]:
    """The lines of a find or replace text (one trailing newline is not a line of its own)."""
    if text == "":
        return []
    return (text[:-1] if text.endswith("\n") else text).split("\n")


def _match(lines: list[str], start: int, find: list[str]) -> str | None:
    """The indentation at which ``find`` sits at line ``start`` of ``lines``, or None."""
    indent = None
    for line, wanted in zip(lines[start:start + len(find)], find):
        if not wanted:
            if line.strip():
                return None
            continue
        if indent is None:
            indent = line[: len(line) - len(wanted)] if line.endswith(wanted) else None
            if indent is None or indent.strip():
                return None
        if line != indent + wanted:
            return None
    return indent


def read_catalogue(folder: Path) -> MutantCatalogue:
    """The catalogue of the milestone in ``folder``; an error names the file and the mutant."""
    path = Path(folder) / CATALOGUE_FILE
    raw = read_yaml_mapping(path)
    try:
        return MutantCatalogue.model_validate(raw)
    except ValidationError as error:
        raise MilestoneFormatError(path, [_name_the_entry(line, raw) for line in describe_validation_error(error)]) \
            from None


def _name_the_entry(problem: str, raw: dict) -> str:
    """'mutants.3.expect: ...' -> "mutant 'no_scaling' (#4): expect: ..." where the entry has a name."""
    parts = problem.split(".", 2)
    if len(parts) < 2 or parts[0] != "mutants" or not parts[1].split(":")[0].isdigit():
        return problem
    index = int(parts[1].split(":")[0])
    entries = raw.get("mutants")
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"mutant '{name}' (#{index + 1})" if isinstance(name, str) else f"mutant #{index + 1}"
    rest = parts[2] if len(parts) > 2 else parts[1].split(":", 1)[1].strip()
    return f"{label}: {rest}"


def mutant_source(folder: Path, name: str) -> str:
    """The text of mutant ``name`` of the milestone in ``folder``: its reference with the edits made."""
    mutant = read_catalogue(folder).get(name)
    return mutant.apply((Path(folder) / "reference.py").read_text(encoding="utf-8"))
