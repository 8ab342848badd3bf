"""`challenge dev check`: prove that every milestone's hidden tests can tell right from wrong.

For each milestone (like rustlings' ``dev check``):

- schema: ``README.md`` and ``reference.py`` exist, the stub carries ``TODO(<id>)``,
  the catalogue holds enough mutants and alternatives, each with a docstring
  (and, for a mutant, an ``EXPECT`` string);
- the stub does not pass, but loads (it fails test by test);
- the reference passes;
- every mutant (``mutants/*.py``: one plausible bug each) does not pass, and
  some failing test *names* the bug: its message or hint contains the mutant's
  ``EXPECT`` (case-insensitive);
- every alternative (``alternatives/*.py``: another valid solution) passes.

Runs go through the same engine as ``challenge test`` with the built-ins policy
of a learner who passed every earlier milestone. Several seeds (``seeds``)
catch a mutant that survives by luck on one draw of shapes and values.

How a milestone is run comes from its data, never its name: ``KINDS`` maps
``milestone.kind`` to the options each run needs (a training kind trains the
entry first). A kind without an entry there is reported, not guessed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from milestones import Milestone, Registry

DEFAULT_SEED = 20240601
_HARNESS_ERROR = "harness error"  # grader.engine.plugin marks bugs in the hidden tests this way


@dataclass(frozen=True)
class Kind:
    """How dev check runs the milestones of one kind (``milestone.kind``)."""

    # (registry=, milestone=, entry=, seed=) -> (task, trained) for the run of that entry (``grading_inputs``).
    inputs: Callable[..., tuple]
    min_mutants: int = 8  # a catalogue smaller than this is not a catalogue
    min_alternatives: int = 3


def _task_inputs(*, milestone: Milestone, **_: object) -> tuple:
    """A module milestone's extra grading inputs (its ``grading.task`` data, if any); no checkpoint needed."""
    import tempfile

    from challenge.run_requests import grading_inputs

    return grading_inputs(milestone=milestone, milestone_dir=Path(tempfile.gettempdir()),
                          cache_dir=Path(tempfile.gettempdir()) / "challenge-devcheck-cache")


MUTANT_BUDGET_S = 10.0  # CPU seconds: a mutant's bug shows without much training; a file may set CHECK_BUDGET_S
_trained: dict[tuple[str, float, float], tuple] = {}


def _train_then_grade(*, registry: Registry, milestone: Milestone, entry: "Entry", seed: int) -> tuple:
    """Train the entry's file in the sandbox (once per file, whatever the number of seeds),
    then hand its checkpoint to the hidden tests as `challenge test` would."""
    import tempfile

    from challenge.run_requests import train_request
    from challenge.taskdata import prepare_data
    from grader import api

    budget = entry.budget_s or (milestone.training.check_budget_s if entry.role in ("reference", "alternative")
                                else MUTANT_BUDGET_S)
    key = (str(entry.path), entry.path.stat().st_mtime, budget)
    if key not in _trained:
        task = prepare_data(milestone, cache_dir=Path(tempfile.gettempdir()) / "challenge-devcheck-cache")
        outcome = api.train(train_request(registry=registry, milestone=milestone, learner_file=entry.path,
                                          passed=earlier_ids(registry, milestone), task=task, budget_s=budget))
        # A file that cannot train (the stub) still gets graded: its tests then fail on build_model.
        _trained[key] = (task, api.TrainedModel(state=outcome.state, training_log=tuple(outcome.history)))
    return _trained[key]


KINDS: dict[str, Kind] = {
    "module": Kind(inputs=_task_inputs),
    # Each entry is trained first (references for the milestone's check budget), so the
    # catalogues are smaller: a run costs minutes, not seconds.
    "training": Kind(inputs=_train_then_grade, min_mutants=4, min_alternatives=1),
}


# -- data ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One file of a milestone's catalogue, and what it must do under the hidden tests."""

    milestone: str
    role: str  # stub | reference | mutant | alternative
    name: str
    path: Path
    description: str = ""  # first line of the module docstring
    expect: str = ""  # mutants: text a failing test's message or hint must contain
    problems: tuple[str, ...] = ()  # catalogue defects found without running anything
    budget_s: float | None = None  # training kinds: CHECK_BUDGET_S in the file overrides the default

    @property
    def label(self) -> str:
        return self.role if self.role in ("stub", "reference") else f"{self.role} {self.name}"

    @property
    def expected(self) -> str:
        return {"stub": "fails (and loads)", "reference": "passes", "alternative": "passes",
                "mutant": f"fails, naming '{self.expect}'"}[self.role]


@dataclass(frozen=True)
class Verdict:
    """What one run of one entry showed."""

    ok: bool
    got: str
    detail: str = ""
    seed: int | None = None


@dataclass(frozen=True)
class CheckItem:
    """One row of the report."""

    milestone: str
    item: str
    expected: str
    got: str
    status: str  # ok | fail | skip
    detail: str = ""
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass(frozen=True)
class DevCheckReport:
    seeds: list[int]
    items: list[CheckItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "seeds": self.seeds, "items": [asdict(i) | {"ok": i.ok} for i in self.items]}


# -- the catalogue --------------------------------------------------------------------------------


def hidden_tests_dir(milestone: Milestone) -> Path:
    import grader  # no torch: the package's __init__ is plain

    return Path(grader.__file__).resolve().parent / "hidden" / milestone.folder


def has_hidden_tests(milestone: Milestone) -> bool:
    folder = hidden_tests_dir(milestone)
    return folder.is_dir() and any(folder.glob("test_*.py"))


def read_entry(*, milestone: Milestone, role: str, path: Path) -> Entry:
    """Parse (never import) a catalogue file: its docstring and ``EXPECT``."""
    name = path.stem
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as error:
        return Entry(milestone.id, role, name, path, problems=(f"cannot be parsed: {error}",))
    doc = (ast.get_docstring(tree) or "").strip()
    expect, budget = "", None
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
            continue
        names = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if "EXPECT" in names and isinstance(node.value.value, str):
            expect = node.value.value.strip()
        if "CHECK_BUDGET_S" in names and isinstance(node.value.value, (int, float)):
            budget = float(node.value.value)
    problems = []
    if role in ("mutant", "alternative") and not doc:
        problems.append("has no module docstring saying what " + ("is wrong" if role == "mutant" else "differs"))
    if role == "mutant" and not expect:
        problems.append('declares no EXPECT = "..." (the text a failing test must show)')
    return Entry(milestone.id, role, name, path, doc.splitlines()[0] if doc else "", expect, tuple(problems), budget)


def catalogue(*, registry: Registry, milestone: Milestone) -> list[Entry]:
    """Stub, reference, mutants and alternatives of ``milestone``, in that order."""
    folder = registry.folder(milestone)
    entries = [Entry(milestone.id, "stub", "stub", folder / "stub.py"),
               Entry(milestone.id, "reference", "reference", folder / "reference.py")]
    for role, sub in (("mutant", "mutants"), ("alternative", "alternatives")):
        for path in sorted((folder / sub).glob("*.py")):
            if not path.name.startswith("_"):
                entries.append(read_entry(milestone=milestone, role=role, path=path))
    return entries


def schema_checks(*, registry: Registry, milestone: Milestone, entries: list[Entry]) -> list[CheckItem]:
    folder = registry.folder(milestone)
    items = []

    def item(what: str, expected: str, got: str, ok: bool, detail: str = "") -> None:
        items.append(CheckItem(milestone.id, what, expected, got, "ok" if ok else "fail", detail))

    for name in ("README.md", "reference.py"):
        item(f"schema: {name}", "exists", "exists" if (folder / name).is_file() else "missing",
             (folder / name).is_file())
    stub = folder / "stub.py"
    marker = f"TODO({milestone.id})"
    has_marker = stub.is_file() and marker in stub.read_text(encoding="utf-8")
    item("schema: stub.py", f"contains {marker}", "yes" if has_marker else ("no" if stub.is_file() else "missing"),
         has_marker)
    kind = KINDS.get(milestone.kind, Kind(inputs=_task_inputs))
    for role, least in (("mutant", kind.min_mutants), ("alternative", kind.min_alternatives)):
        count = sum(1 for e in entries if e.role == role)
        item(f"schema: {role}s", f">= {least}", str(count), count >= least)
    for entry in entries:
        if entry.problems:
            item(f"schema: {entry.label}", "docstring and EXPECT" if entry.role == "mutant" else "docstring",
                 "defective", False, "; ".join(entry.problems))
    return items


# -- running --------------------------------------------------------------------------------------


def earlier_ids(registry: Registry, milestone: Milestone) -> set[str]:
    """The milestones a learner at ``milestone`` has passed: every earlier one."""
    return {m.id for m in registry.milestones if m.number < milestone.number}


def run_entry(*, registry: Registry, milestone: Milestone, entry: Entry, seed: int, kind: Kind):
    """One run of the hidden tests on ``entry``'s file; a ``grader.results.RunResult``."""
    from challenge.run_requests import grade_request
    from grader import api

    task, trained = kind.inputs(registry=registry, milestone=milestone, entry=entry, seed=seed)
    return api.grade(grade_request(registry=registry, milestone=milestone, learner_file=entry.path,
                                   passed=earlier_ids(registry, milestone), seed=seed, task=task, trained=trained))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failures(result) -> list:
    return [t for t in result.tests if t.status != "pass"]


def _said(result) -> list[str]:
    """Everything the grader told the learner: per-test messages and hints, and the run message."""
    said = [f"{t.message}\n{t.hint}" for t in _failures(result)]
    return said + ([result.message] if result.message else [])


def _summary(result) -> str:
    if result.status == "error" and not result.tests:
        return "error: did not load"
    return f"{result.status}, {result.passed}/{len(result.tests)} tests pass"


def _what_it_said(result, limit: int = 4) -> str:
    lines = [f"- {t.name}: {_short(t.message, 200)}" + (f" | hint: {_short(t.hint, 160)}" if t.hint else "")
             for t in _failures(result)[:limit]]
    if result.message:
        lines.insert(0, f"- (run) {_short(result.message, 300)}")
    more = len(_failures(result)) - limit
    return "\n".join(lines + ([f"- ... and {more} more"] if more > 0 else []))


def judge(entry: Entry, result, seed: int) -> Verdict:
    """Does this run of ``entry`` do what its role requires?"""
    summary = _summary(result)
    harness = [t for t in result.tests if _HARNESS_ERROR in t.message.lower()]
    if harness:
        return Verdict(False, f"{summary}; harness error", _what_it_said(result), seed)
    if entry.role in ("reference", "alternative"):
        ok = result.status == "pass"
        return Verdict(ok, summary, "" if ok else _what_it_said(result), seed)
    if entry.role == "stub":
        ok = result.status == "fail"
        detail = "" if ok else ("the stub passes: the tests accept an unsolved file" if result.status == "pass"
                                else "the stub does not load: " + _short(result.message))
        return Verdict(ok, summary, detail, seed)
    if result.status == "pass":  # mutant
        return Verdict(False, f"survived: {summary}", "every test passes for this mutant", seed)
    needle = entry.expect.lower()
    named = bool(needle) and any(needle in text.lower() for text in _said(result))
    if named:
        return Verdict(True, f"caught and named ({summary})", "", seed)
    return Verdict(False, f"caught, not named ({summary})",
                   f"no failing test says '{entry.expect}'. The grader said:\n{_what_it_said(result)}", seed)


def check_entry(*, registry: Registry, milestone: Milestone, entry: Entry, seeds: Iterable[int],
                kind: Kind | None = None) -> CheckItem:
    """Run ``entry`` under every seed; the row fails on the first seed where it misbehaves."""
    kind = kind or KINDS[milestone.kind]
    verdicts = []
    for seed in seeds:
        verdicts.append(judge(entry, run_entry(registry=registry, milestone=milestone, entry=entry, seed=seed,
                                               kind=kind), seed))
        if not verdicts[-1].ok:
            break
    bad = next((v for v in verdicts if not v.ok), None)
    shown = bad or verdicts[0]
    got = shown.got + (f" (seed {bad.seed})" if bad else f" on {len(verdicts)} seeds" if len(verdicts) > 1 else "")
    return CheckItem(milestone.id, entry.label, entry.expected, got, "fail" if bad else "ok",
                     shown.detail, entry.description)


def check_milestone(*, registry: Registry, milestone: Milestone, seeds: list[int],
                    progress: Callable[[Entry], None] | None = None) -> list[CheckItem]:
    entries = catalogue(registry=registry, milestone=milestone)
    items = schema_checks(registry=registry, milestone=milestone, entries=entries)
    if not has_hidden_tests(milestone):
        items.append(CheckItem(milestone.id, "hidden tests", "exist", f"none in grader/hidden/{milestone.folder}",
                               "skip", "nothing was run"))
        return items
    kind = KINDS.get(milestone.kind)
    if kind is None:
        items.append(CheckItem(milestone.id, "runs", f"a dev check for kind '{milestone.kind}'", "none registered",
                               "fail", "add an entry to challenge.devcheck.KINDS"))
        return items
    for entry in entries:
        if not entry.path.is_file() or (entry.problems and entry.role == "mutant" and not entry.expect):
            continue  # already reported by the schema checks
        if progress:
            progress(entry)
        items.append(check_entry(registry=registry, milestone=milestone, entry=entry, seeds=seeds, kind=kind))
    return items


def dev_check(*, registry: Registry, milestones: list[Milestone], seed: int = DEFAULT_SEED, n_seeds: int = 1,
              progress: Callable[[Entry], None] | None = None) -> DevCheckReport:
    """Check ``milestones`` under seeds ``seed, seed+1, ... seed+n_seeds-1``."""
    seeds = [seed + i for i in range(max(1, n_seeds))]
    report = DevCheckReport(seeds=seeds)
    for milestone in milestones:
        report.items.extend(check_milestone(registry=registry, milestone=milestone, seeds=seeds, progress=progress))
    return report
