"""`challenge dev check`: prove that every milestone's hidden tests can tell right from wrong.

For each milestone (like rustlings' ``dev check``):

- schema: ``README.md`` and ``reference.py`` exist, the stub carries ``TODO(<id>)``,
  ``mutants.yaml`` validates, the catalogue holds enough mutants and
  alternatives, and each alternative has a docstring;
- the stub does not pass, but loads (it fails test by test);
- the reference passes;
- every mutant (an entry of ``mutants.yaml``: one plausible bug, made by editing
  the reference) does not pass, and its *first* failing test names the bug: its
  diagnosis (mistake id, summary), message or hint contains the mutant's
  ``expect`` (case-insensitive), so that what the learner reads first is the
  cause, not a symptom another test happens to name. This holds for every
  ``expect`` that is a mistake id of the differential diagnosis
  (``grader.judge.diagnosis.catalogue``); a message text (milestones whose tests
  no probes diagnose yet) may be named by a later failing test, and the row
  says "named by a later test". A mutant
  whose edits no longer apply to the reference fails by name as *stale*,
  without running;
- the reference and every alternative (``alternatives/*.py``: another valid
  solution) pass with no hint and no diagnosis on any test: a probe that
  accuses a valid solution is a bug in the judge.

Runs go through the same engine as ``challenge test`` with the built-ins policy
of a learner who passed every earlier milestone, each entry's text written to a
temporary folder as the learner's file (``milestone.learner_file``). Several seeds (``seeds``)
catch a mutant that survives by luck on one draw of shapes and values.

How a milestone is run comes from its data, never its name: ``KINDS`` maps
``milestone.kind`` to the options each run needs (a training kind trains the
entry first). A kind without an entry there is reported, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from challenge.dev.catalogue import Entry, catalogue, learner_copy
from milestones import Milestone, Registry
from milestones.mutants import CATALOGUE_FILE, StaleMutant

DEFAULT_SEED = 20240601
_HARNESS_ERROR = "harness error"  # grader.engine.plugin marks bugs in the hidden tests this way


@dataclass(frozen=True)
class Kind:
    """How dev check runs the milestones of one kind (``milestone.kind``)."""

    # (registry=, milestone=, entry=, seed=, learner_file=) -> (task, trained) for the run (``grading_inputs``).
    inputs: Callable[..., tuple]
    min_mutants: int = 8  # a catalogue smaller than this is not a catalogue
    min_alternatives: int = 3


def _task_inputs(*, milestone: Milestone, **_: object) -> tuple:
    """A module milestone's extra grading inputs (its ``grading.task`` data, if any); no checkpoint needed."""
    import tempfile

    from challenge.run_requests import grading_inputs

    return grading_inputs(milestone=milestone, milestone_dir=Path(tempfile.gettempdir()),
                          cache_dir=Path(tempfile.gettempdir()) / "challenge-devcheck-cache")


_trained: dict[tuple[str, float], tuple] = {}


def _train_then_grade(*, registry: Registry, milestone: Milestone, entry: Entry, seed: int,
                      learner_file: Path) -> tuple:
    """Train ``learner_file`` in the sandbox (once per text and budget, whatever the number of seeds),
    then hand its checkpoint to the hidden tests as `challenge test` would."""
    import tempfile

    from challenge.run_requests import read_source, train_request, training_budget
    from challenge.taskdata import prepare_data
    from grader import api

    budget = training_budget(milestone, asked=entry.budget_s,
                             use="check" if entry.role in ("reference", "alternative") else "mutant")
    source = read_source(learner_file)
    key = (source.sha256 if source else "", budget)
    if key not in _trained:
        task = prepare_data(milestone, cache_dir=Path(tempfile.gettempdir()) / "challenge-devcheck-cache")
        outcome = api.train(train_request(registry=registry, milestone=milestone, learner_file=learner_file,
                                          passed=earlier_ids(registry, milestone), task=task, budget_s=budget,
                                          source=source))
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
    status: str  # ok | fail | warn (a draft's gap) | skip
    detail: str = ""
    description: str = ""
    fix: str = ""  # what to do about a row that fails or warns

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


# -- schema ---------------------------------------------------------------------------------------


def hidden_tests_dir(milestone: Milestone) -> Path:
    import grader  # no torch: the package's __init__ is plain

    return Path(grader.__file__).resolve().parent / "hidden" / milestone.folder


def has_hidden_tests(milestone: Milestone) -> bool:
    folder = hidden_tests_dir(milestone)
    return folder.is_dir() and any(folder.glob("test_*.py"))


# What a milestone folder may hold; anything else is a stray (a leftover, a misnamed file) that nothing reads.
MILESTONE_FILES = frozenset({"milestone.yaml", "README.md", "stub.py", "reference.py", CATALOGUE_FILE,
                             "written_questions.yaml", "alternatives"})
ALTERNATIVE_FILES = frozenset({".gitkeep"})  # besides <name>.py: keeps an empty alternatives/ in git
IGNORED = frozenset({"__pycache__", ".DS_Store"})


def stray_files(folder: Path) -> list[str]:
    """Files in a milestone folder that no part of the harness reads, as paths relative to it."""
    if not folder.is_dir():
        return []  # a missing folder: its missing files are the rows that say so
    strays = [p.name for p in folder.iterdir() if p.name not in MILESTONE_FILES | IGNORED]
    alternatives = folder / "alternatives"
    if alternatives.is_dir():
        strays += [f"alternatives/{p.name}" for p in alternatives.iterdir()
                   if p.name not in ALTERNATIVE_FILES | IGNORED and not (p.suffix == ".py" and p.is_file())]
    return sorted(strays)


def schema_checks(*, registry: Registry, milestone: Milestone, entries: list[Entry],
                  catalogue_problems: Iterable[str] = ()) -> list[CheckItem]:
    folder = registry.folder(milestone)
    items = []

    def item(what: str, expected: str, got: str, ok: bool, fix: str, detail: str = "", *,
             status: str = "fail") -> None:
        items.append(CheckItem(milestone.id, what, expected, got, "ok" if ok else status, detail,
                               fix="" if ok else fix))

    for name in ("README.md", "reference.py"):
        item(f"schema: {name}", "exists", "exists" if (folder / name).is_file() else "missing",
             (folder / name).is_file(), f"Write {folder / name} (`challenge dev new` makes a placeholder).")
    stub = folder / "stub.py"
    marker = f"TODO({milestone.id})"
    has_marker = stub.is_file() and marker in stub.read_text(encoding="utf-8")
    item("schema: stub.py", f"contains {marker}", "yes" if has_marker else ("no" if stub.is_file() else "missing"),
         has_marker, f"Keep a `raise NotImplementedError(\"{marker}: ...\")` in each body of {stub}.")
    problems = list(catalogue_problems)
    item(f"schema: {CATALOGUE_FILE}", "valid", "invalid" if problems else "valid", not problems,
         f"Fix the fields named in the detail in {folder / CATALOGUE_FILE} (CONTRIBUTING.md, 'Mutants').",
         "; ".join(problems))
    strays = stray_files(folder)
    item("schema: no stray files", "none", ", ".join(strays) or "none", not strays,
         f"Remove or rename them: a milestone folder holds {', '.join(sorted(MILESTONE_FILES))}; "
         "alternatives/ holds <name>.py files (and .gitkeep).")
    kind = KINDS.get(milestone.kind, Kind(inputs=_task_inputs))
    for role, least in (("mutant", kind.min_mutants), ("alternative", kind.min_alternatives)):
        count = sum(1 for e in entries if e.role == role)
        where = (f"entries in {folder / CATALOGUE_FILE}" if role == "mutant"
                 else f"valid solutions in {folder / 'alternatives'}/")
        draft = " It is a draft (milestone.yaml: draft: true): a warning until then." if milestone.draft else ""
        item(f"schema: {role}s", f">= {least}", str(count), count >= least,
             f"Add {least - count} more {where} (CONTRIBUTING.md, 'The catalogue').{draft}",
             status="warn" if milestone.draft else "fail")
    for entry in entries:
        if entry.problems:
            item(f"schema: {entry.label}", "docstring", "defective", False,
                 f"Give {entry.label} the docstring the detail asks for.", "; ".join(entry.problems))
    return items


# -- running --------------------------------------------------------------------------------------


def earlier_ids(registry: Registry, milestone: Milestone) -> set[str]:
    """The milestones a learner at ``milestone`` has passed: every earlier one."""
    return {m.id for m in registry.milestones if m.number < milestone.number}


def run_entry(*, registry: Registry, milestone: Milestone, entry: Entry, learner_file: Path, seed: int, kind: Kind):
    """One run of the hidden tests on ``learner_file`` (``entry``'s text); a ``grader.results.RunResult``."""
    from challenge.run_requests import grade_request
    from grader import api

    task, trained = kind.inputs(registry=registry, milestone=milestone, entry=entry, seed=seed,
                                learner_file=learner_file)
    return api.grade(grade_request(registry=registry, milestone=milestone, learner_file=learner_file,
                                   passed=earlier_ids(registry, milestone), seed=seed, task=task, trained=trained))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failures(result) -> list:
    return [t for t in result.tests if t.status != "pass"]


def _told(test) -> str:
    """What the grader told the learner about one test: its diagnosis, message and hint."""
    d = test.diagnosis
    diagnosis = f"{d.mistake}\n{d.summary}\n" if d is not None else ""
    return f"{diagnosis}{test.message}\n{test.hint}"


def _first_said(result) -> str:
    """What the learner reads first: the first failing test (or the run message when no test ran)."""
    failures = _failures(result)
    if failures:
        return _told(failures[0])
    return result.message or ""


def _accusations(result) -> list[str]:
    """Hints and diagnoses on a run that should carry none (the reference, an alternative)."""
    return [f"- {t.name}: " + (f"diagnosis {t.diagnosis.mistake or '(localised)'}: {_short(t.diagnosis.summary, 160)}"
                               if t.diagnosis is not None else f"hint: {_short(t.hint, 160)}")
            for t in result.tests if t.hint or t.diagnosis is not None]


def _summary(result) -> str:
    if result.status == "error" and not result.tests:
        return "error: did not load"
    return f"{result.status}, {result.passed}/{len(result.tests)} tests pass"


def _what_it_said(result, limit: int = 4) -> str:
    lines = [f"- {t.name}: " + (f"[{t.diagnosis.mistake or 'localised'}: {_short(t.diagnosis.summary, 120)}] "
                                 if t.diagnosis is not None else "") + _short(t.message, 200)
             + (f" | hint: {_short(t.hint, 160)}" if t.hint else "")
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
        if result.status != "pass":
            return Verdict(False, summary, _what_it_said(result), seed)
        accused = _accusations(result)
        if accused:
            return Verdict(False, f"{summary}, with hints or diagnoses", "\n".join(accused), seed)
        return Verdict(True, summary, "", seed)
    if entry.role == "stub":
        ok = result.status == "fail"
        detail = "" if ok else ("the stub passes: the tests accept an unsolved file" if result.status == "pass"
                                else "the stub does not load: " + _short(result.message))
        return Verdict(ok, summary, detail, seed)
    if result.status == "pass":  # mutant
        return Verdict(False, f"survived: {summary}", "every test passes for this mutant", seed)
    needle = entry.expect.lower()
    if needle and needle in _first_said(result).lower():
        return Verdict(True, f"caught and named ({summary})", "", seed)
    if needle and not _is_mistake_id(entry.expect) and any(needle in _told(t).lower() for t in _failures(result)):
        return Verdict(True, f"caught and named by a later test ({summary})", "", seed)
    return Verdict(False, f"caught, not named first ({summary})",
                   f"the first failing test does not say '{entry.expect}'. The grader said:\n"
                   f"{_what_it_said(result)}", seed)


def _is_mistake_id(expect: str) -> bool:
    """Is ``expect`` a mistake the differential diagnosis names (``grader.judge.diagnosis.catalogue``)? Those
    must be named by the first failing test; a message text (milestones whose tests are not diagnosed by
    probes yet) may still be named by a later test, and the row says so."""
    from grader.judge.diagnosis.catalogue import BY_ID  # torch: only once a mutant has run

    return expect in BY_ID


def check_entry(*, registry: Registry, milestone: Milestone, entry: Entry, seeds: Iterable[int],
                kind: Kind | None = None) -> CheckItem:
    """Run ``entry`` under every seed; the row fails on the first seed where it misbehaves.
    A stale mutant (its edits no longer apply to the reference) fails by name without running."""
    kind = kind or KINDS[milestone.kind]
    try:
        text = entry.text()
    except StaleMutant as stale:
        return CheckItem(milestone.id, entry.label, entry.expected, "stale: its edits no longer apply to reference.py",
                         "fail", "; ".join(stale.problems), entry.description,
                         fix=f"Update its edits in {CATALOGUE_FILE} to match reference.py as it is now.")
    verdicts = []
    with learner_copy(text, milestone) as learner_file:
        for seed in seeds:
            result = run_entry(registry=registry, milestone=milestone, entry=entry, learner_file=learner_file,
                               seed=seed, kind=kind)
            verdicts.append(judge(entry, result, seed))
            if not verdicts[-1].ok:
                break
    bad = next((v for v in verdicts if not v.ok), None)
    shown = bad or verdicts[0]
    got = shown.got + (f" (seed {bad.seed})" if bad else f" on {len(verdicts)} seeds" if len(verdicts) > 1 else "")
    return CheckItem(milestone.id, entry.label, entry.expected, got, "fail" if bad else "ok",
                     shown.detail, entry.description, fix=FIXES.get(entry.role, "") if bad else "")


FIXES = {  # what to do when an entry of each role misbehaves
    "stub": "The stub must load and fail: keep its signatures importable and its bodies raising NotImplementedError; "
            "if it passes, the hidden tests check too little.",
    "reference": "The reference must pass: fix reference.py, or the hidden test named in the detail if it is wrong.",
    "alternative": "A valid solution was refused: widen the hidden test named in the detail (tolerances, accepted "
                   "forms), or remove the file from alternatives/ if it is not valid.",
    "mutant": "A wrong solution passed or was misnamed: add or sharpen a hidden test (or the diagnosis) so that it "
              "fails and names its `expect`, or correct the `expect` in mutants.yaml.",
}


def check_milestone(*, registry: Registry, milestone: Milestone, seeds: list[int],
                    progress: Callable[[Entry], None] | None = None) -> list[CheckItem]:
    entries, problems = catalogue(registry=registry, milestone=milestone)
    items = schema_checks(registry=registry, milestone=milestone, entries=entries, catalogue_problems=problems)
    if not has_hidden_tests(milestone):
        items.append(CheckItem(milestone.id, "hidden tests", "exist", f"none in grader/hidden/{milestone.folder}",
                               "skip", "nothing was run",
                               fix=f"Write grader/hidden/{milestone.folder}/test_{milestone.id}.py "
                                   "(`dev new` makes one)."))
        return items
    kind = KINDS.get(milestone.kind)
    if kind is None:
        items.append(CheckItem(milestone.id, "runs", f"a dev check for kind '{milestone.kind}'", "none registered",
                               "fail", "add an entry to challenge.dev.check.KINDS",
                               fix="Add an entry for this kind to challenge.dev.check.KINDS."))
        return items
    for entry in entries:
        if not entry.path.is_file():
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
