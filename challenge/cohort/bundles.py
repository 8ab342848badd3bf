"""`challenge cohort`: many learners' bundles side by side, for programme
organisers. Nothing is run: each bundle is extracted safely and checked (a
bundle that fails a check is left out, with the reason), then read through the
same report builder the learner's own report uses, as of its submit time.

Per milestone: how many started and passed, the spread of *active* time of
those who passed (quartiles; self-reported time is left out), first-time pass
rate, help used (hints and peeks), and calibration (the stated chance of
passing at first try against what happened, as a Brier score). Per learner:
where their time falls among those who passed (a mid-rank percentile).
Similar code: every pair of learners whose files for a milestone share at
least ``challenge.similarity.THRESHOLD`` of their code, and every file that
shares as much with the reference (read as text; nothing runs).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from challenge.bundle.extract import Limits
from challenge.bundle.integrity import OpenedBundle, open_bundle
from challenge.similarity import THRESHOLD, read_source, reference_similarity, similar_pairs
from milestones import Registry


@dataclass(frozen=True)
class LearnerMilestone:
    status: str  # passed | in progress
    active_s: float
    attempts: int
    first_pass: bool | None  # None: never tested
    help: int  # hints + peeks
    predicted_pass: float | None
    predicted_hours: float | None
    actual_hours: float


@dataclass(frozen=True)
class Learner:
    label: str  # the handle ("ada #2" for a second bundle with the same handle)
    source: str
    milestones: dict[str, LearnerMilestone]
    brier: float | None  # over all of the learner's stated chances


@dataclass(frozen=True)
class Spread:
    n: int
    q1: float
    median: float
    q3: float


@dataclass(frozen=True)
class MilestoneSummary:
    id: str
    title: str
    started: int
    passed: int
    time: Spread | None  # active seconds of those who passed
    first_pass_rate: float | None  # among those who tested
    help_rate: float | None  # share of starters who used a hint or a peek
    mean_help: float | None
    predicted_pass: float | None  # mean stated chance of passing at the first test
    brier: float | None
    hours_ratio: float | None  # median actual / predicted hours among those who passed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.started if self.started else None


@dataclass(frozen=True)
class SimilarPair:
    milestone: str
    first: str  # a learner's label
    second: str  # another learner's label, or "reference"
    score: float


@dataclass
class Cohort:
    learners: list[Learner] = field(default_factory=list)
    milestones: list[MilestoneSummary] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (bundle, reason)
    similar: list[SimilarPair] = field(default_factory=list)  # at or above the similarity threshold

    def percentile(self, learner: Learner, milestone_id: str) -> float | None:
        """Where the learner's active time falls among those who passed (0: fastest, 100: slowest)."""
        mine = learner.milestones.get(milestone_id)
        if mine is None or mine.status != "passed":
            return None
        times = [m.milestones[milestone_id].active_s for m in self.learners
                 if milestone_id in m.milestones and m.milestones[milestone_id].status == "passed"]
        below = sum(1 for t in times if t < mine.active_s)
        equal = sum(1 for t in times if t == mine.active_s)
        return 100.0 * (below + 0.5 * equal) / len(times)


def load_cohort(*, sources: Sequence[Path], registry: Registry, limits: Limits = Limits()) -> Cohort:
    found: list[tuple[Learner, dict[str, str]]] = []
    excluded: list[tuple[str, str]] = []
    for source in sources:
        with open_bundle(Path(source), limits=limits) as opened:
            if not opened.valid or opened.manifest is None:
                reason = opened.problems[0].describe() if opened.problems else "unreadable"
                excluded.append((str(source), reason))
                continue
            found.append(read_learner(opened=opened, registry=registry, source=str(source)))
    return assemble(found, registry=registry, excluded=excluded)


def read_learner(*, opened: OpenedBundle, registry: Registry, source: str) -> tuple[Learner, dict[str, str]]:
    """A checked bundle's learner (labelled with the handle) and their code per milestone (id -> text).

    Read through the learner's own report builder, as of the bundle's submit time; nothing runs.
    """
    from challenge.report import build_report

    report = build_report(workspace_root=opened.workspace, registry=registry, now=opened.manifest.created_at)
    code = {}
    for m in report.milestones:
        milestone = registry.get(m.id)
        text = read_source(opened.workspace / milestone.folder / milestone.learner_file)
        if text is not None:
            code[m.id] = text
    learner = Learner(label=report.handle, source=source, brier=report.calibration.brier, milestones={
        m.id: LearnerMilestone(status=m.status, active_s=m.time.active_s, attempts=len(m.attempts),
                               first_pass=m.first_pass, help=m.hints_used + m.peeks,
                               predicted_pass=m.predicted_pass, predicted_hours=m.predicted_hours,
                               actual_hours=m.time.total_s / 3600)
        for m in report.milestones})
    return learner, code


def unique_labels(handles: Sequence[str]) -> list[str]:
    """The handles in order, a second bundle with the same handle labelled "ada #2", a third "ada #3"."""
    seen: dict[str, int] = {}
    labels = []
    for handle in handles:
        seen[handle] = seen.get(handle, 0) + 1
        labels.append(handle if seen[handle] == 1 else f"{handle} #{seen[handle]}")
    return labels


def assemble(found: Sequence[tuple[Learner, dict[str, str]]], *, registry: Registry,
             excluded: Sequence[tuple[str, str]] = ()) -> Cohort:
    """The cohort of ``found`` (learner labelled by handle, code per milestone), in the order given:
    summaries per milestone and the similar code (what `challenge cohort` and `cohort merge` show)."""
    cohort = Cohort(excluded=list(excluded))
    code: dict[str, dict[str, str]] = {}  # milestone -> learner label -> source
    for (learner, files), label in zip(found, unique_labels([learner.label for learner, _ in found])):
        cohort.learners.append(replace(learner, label=label))
        for milestone_id, text in files.items():
            code.setdefault(milestone_id, {})[label] = text
    cohort.milestones = summarise(cohort.learners, registry)
    cohort.similar = like_reference(code, registry) + similar_code(code, registry)
    return cohort


def like_reference(code: dict[str, dict[str, str]], registry: Registry) -> list[SimilarPair]:
    """Files that share at least the threshold with their milestone's reference."""
    found = []
    for milestone in registry.milestones:
        folder = registry.folder(milestone)
        for label, text in sorted(code.get(milestone.id, {}).items()):
            score = reference_similarity(text, folder)
            if score is not None and score >= THRESHOLD:
                found.append(SimilarPair(milestone.id, label, "reference", score))
    return found


def similar_code(code: dict[str, dict[str, str]], registry: Registry) -> list[SimilarPair]:
    """Pairs of learners at or above the threshold per milestone (the stub left out)."""
    found = []
    for milestone in registry.milestones:
        files = code.get(milestone.id, {})
        stub = read_source(registry.folder(milestone) / "stub.py") or ""
        found += [SimilarPair(milestone.id, pair.first, pair.second, pair.score)
                  for pair in similar_pairs(files, boilerplate=stub)]
    return found


def summarise(learners: Sequence[Learner], registry: Registry) -> list[MilestoneSummary]:
    """Per milestone that anyone started, in milestone order."""
    summaries = []
    for milestone in registry.milestones:
        rows = [ln.milestones[milestone.id] for ln in learners if milestone.id in ln.milestones]
        if not rows:
            continue
        passed = [r for r in rows if r.status == "passed"]
        tested = [r for r in rows if r.first_pass is not None]
        predicted = [r for r in tested if r.predicted_pass is not None]
        ratios = [r.actual_hours / r.predicted_hours for r in passed if r.predicted_hours]
        summaries.append(MilestoneSummary(
            id=milestone.id, title=milestone.title, started=len(rows), passed=len(passed),
            time=spread([r.active_s for r in passed]),
            first_pass_rate=_mean([float(bool(r.first_pass)) for r in tested]),
            help_rate=_mean([float(r.help > 0) for r in rows]), mean_help=_mean([float(r.help) for r in rows]),
            predicted_pass=_mean([r.predicted_pass for r in predicted]),
            brier=_mean([(r.predicted_pass - float(bool(r.first_pass))) ** 2 for r in predicted]),
            hours_ratio=statistics.median(ratios) if ratios else None))
    return summaries


def spread(values: Sequence[float]) -> Spread | None:
    """Quartiles (inclusive method: they stay within the data)."""
    if not values:
        return None
    if len(values) == 1:
        return Spread(1, values[0], values[0], values[0])
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Spread(len(values), q1, median, q3)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
