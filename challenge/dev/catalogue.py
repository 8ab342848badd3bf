"""A milestone's catalogue for ``dev check``: the stub, the reference, the mutants
(``mutants.yaml``, small edits to the reference) and the alternatives
(``alternatives/*.py``, other valid solutions), each an :class:`Entry` that
knows what it must do under the hidden tests and which text to run.

Every entry runs as the learner's file would: its text is written to a fresh
temporary folder under the milestone's ``learner_file`` name (a mutant's text
exists only there, made from the reference at that moment).
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from milestones import Milestone, MilestoneFormatError, Registry
from milestones.mutants import EditedReference, Mutant, read_catalogue


@dataclass(frozen=True)
class Entry:
    """One item of a milestone's catalogue, and what it must do under the hidden tests."""

    milestone: str
    role: str  # stub | reference | mutant | alternative
    name: str
    path: Path  # the file run; for a mutant, the reference.py it edits
    description: str = ""  # a mutant's description; an alternative's first docstring line
    expect: str = ""  # mutants: text a failing test's message or hint must contain
    problems: tuple[str, ...] = ()  # catalogue defects found without running anything
    budget_s: float | None = None  # training kinds: a mutant's check_budget_s overrides the default
    mutant: EditedReference | None = None  # the edits making this entry (mutant or alternative) from the reference

    @property
    def label(self) -> str:
        return self.role if self.role in ("stub", "reference") else f"{self.role} {self.name}"

    @property
    def expected(self) -> str:
        return {"stub": "fails (and loads)", "reference": "passes", "alternative": "passes",
                "mutant": f"fails, naming '{self.expect}'"}[self.role]

    def text(self) -> str:
        """The source to run; ``milestones.mutants.StaleMutant`` when a mutant's edits no longer apply."""
        source = self.path.read_text(encoding="utf-8")
        return self.mutant.apply(source) if self.mutant else source


def mutant_entry(*, milestone: Milestone, reference: Path, mutant: Mutant) -> Entry:
    return Entry(milestone.id, "mutant", mutant.name, reference, mutant.description, mutant.expect,
                 budget_s=mutant.check_budget_s, mutant=mutant)


def read_alternative(*, milestone: Milestone, path: Path) -> Entry:
    """Parse (never import) an alternative: its docstring says how it differs."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as error:
        return Entry(milestone.id, "alternative", path.stem, path, problems=(f"cannot be parsed: {error}",))
    doc = (ast.get_docstring(tree) or "").strip()
    problems = () if doc else ("has no module docstring saying what differs",)
    return Entry(milestone.id, "alternative", path.stem, path, doc.splitlines()[0] if doc else "", problems=problems,
                 budget_s=_check_budget(tree))


def _check_budget(tree: ast.Module) -> float | None:
    """A training alternative's own ``CHECK_BUDGET_S = <number>`` (a mutant's ``check_budget_s``), read, never run."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["CHECK_BUDGET_S"]
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, (int, float))
                and not isinstance(node.value.value, bool) and node.value.value > 0):
            return float(node.value.value)
    return None


def catalogue(*, registry: Registry, milestone: Milestone) -> tuple[list[Entry], list[str]]:
    """Stub, reference, mutants and alternatives of ``milestone``, in that order, and the problems
    of its ``mutants.yaml`` (a file that does not validate contributes no mutants)."""
    folder = registry.folder(milestone)
    reference = folder / "reference.py"
    entries = [Entry(milestone.id, "stub", "stub", folder / "stub.py"),
               Entry(milestone.id, "reference", "reference", reference)]
    problems: list[str] = []
    edited = []
    try:
        listed = read_catalogue(folder)
        entries += [mutant_entry(milestone=milestone, reference=reference, mutant=m) for m in listed.mutants]
        edited = [Entry(milestone.id, "alternative", a.name, reference, a.description, mutant=a)
                  for a in listed.alternatives]
    except MilestoneFormatError as error:
        problems = list(error.problems)
    entries += [read_alternative(milestone=milestone, path=p)
                for p in sorted((folder / "alternatives").glob("*.py")) if not p.name.startswith("_")] + edited
    return entries, problems


@contextmanager
def learner_copy(text: str, milestone: Milestone) -> Iterator[Path]:
    """``text`` as the learner's file (``milestone.learner_file``) in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="challenge-devcheck-") as folder:
        path = Path(folder) / milestone.learner_file
        path.write_text(text, encoding="utf-8")
        yield path
