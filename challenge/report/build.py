"""Build the report from a workspace: a plain function of the event log, the
milestone registry, the saved results documents and "now".

``build_report`` reads the files; ``assemble_report`` is the pure part, so a
bundle's report can be rebuilt from its log and results without running any
learner code. Neither imports torch or the grader: results documents are read
as plain JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from challenge.record.eventlog import Event, LogProblem, read_log
from challenge.record.events import data_problem
from challenge.record.progress import MilestoneProgress, derive_progress, is_stub_run
from challenge.report import verdict as rules
from challenge.report.calibration import brier_score, confidence_bias, describe_confidence, describe_hours
from challenge.feedback.failure_groups import failure_key, tests_from_document
from challenge.report.model import (
    FAILED, FINDING_ORDER, LEARNER, LOCALISED, NAMED, READER, Adjustment, AttemptSummary, Band, Calibration, Finding,
    GroupReport, HoursPrediction, LogHealth, MilestoneReport, MistakeMade, PassPrediction, Rating, Reflection, Report,
    TimeSummary, Verdict, WeakArea,
)
from challenge.feedback.results_document import read_results
from challenge.record.timekeeping import DEFAULT_IDLE_THRESHOLD_S, MilestoneTime, TimeAccount, account
from challenge.record.workspace import CONFIG_NAME, LOG_NAME, read_config
from milestones import Milestone, Registry

ResultsDocs = Mapping[str, "dict[str, Any] | None"]  # results_file (relative) -> document, None if unreadable


def build_report(*, workspace_root: Path, registry: Registry, now: float, audience: str = LEARNER) -> Report:
    """Read a workspace (or an extracted bundle) and build its report. Never raises on bad content.

    ``audience``: LEARNER (the learner's own report, "you") or READER (an employer's view, the learner in the
    third person)."""
    from challenge.report.written import written_answers
    from challenge.similarity import reference_similarities

    root = Path(workspace_root)
    handle, idle_threshold_s = _read_config(root)
    reading = read_log(root / LOG_NAME, required=(root / CONFIG_NAME).is_file())
    started = derive_progress(reading.events)
    ids = sorted(started)
    return assemble_report(events=reading.events, problems=reading.problems, registry=registry,
                           results=read_results_documents(root, reading.events), now=now, handle=handle,
                           idle_threshold_s=idle_threshold_s, unusable_seqs=reading.unusable, losses=reading.losses,
                           audience=audience,
                           similarity=reference_similarities(workspace_root=root, registry=registry,
                                                             milestone_ids=ids),
                           written=written_answers(workspace_root=root, registry=registry, milestone_ids=ids))


def _read_config(root: Path) -> tuple[str, float]:
    try:
        config = read_config(root / CONFIG_NAME)
        return config.handle, config.idle_threshold_s
    except (OSError, ValueError):  # UntrustedJSON is a ValueError
        return "unknown", DEFAULT_IDLE_THRESHOLD_S


def read_results_documents(root: Path, events: Sequence[Event]) -> dict[str, dict[str, Any] | None]:
    """The results document of every logged test, by its relative path; None where unreadable.

    Only files inside ``root`` are read (a bundle's log is not trusted to point elsewhere).
    """
    found: dict[str, dict[str, Any] | None] = {}
    base = root.resolve()
    for event in events:
        name = event.data.get("results_file") if event.type == "test" else None
        if not isinstance(name, str) or name in found:
            continue
        path = (base / name).resolve()
        document = None
        if path.is_relative_to(base):
            try:
                document = read_results(path)
            except (OSError, ValueError):  # missing, or not a results document (UntrustedJSON)
                document = None
        found[name] = document
    return found


def assemble_report(*, events: Sequence[Event], problems: Sequence[LogProblem], registry: Registry,
                    results: ResultsDocs, now: float, handle: str,
                    idle_threshold_s: float = DEFAULT_IDLE_THRESHOLD_S, unusable_seqs: Sequence[int] = (),
                    losses: Sequence[str] = (), similarity: Mapping[str, Any] | None = None,
                    written: Mapping[str, Any] | None = None, audience: str = LEARNER) -> Report:
    """The report as a pure function of its inputs."""
    third = audience == READER
    known = {m.id: m for m in registry.milestones}
    events, unusable = _usable(events)
    unusable = sorted(set(unusable) | set(unusable_seqs))
    progress = derive_progress(events)
    times = account(events, now=now, idle_threshold_s=idle_threshold_s)
    started = [m for m in registry.milestones if _started(progress.get(m.id))]
    similar, answers = similarity or {}, written or {}
    reports = [_milestone(m, progress[m.id], times, events, registry, results, similar.get(m.id), answers.get(m.id),
                          third)
               for m in started]
    groups = _groups(registry, reports)
    levels = {r.id: r.verdict.level for r in reports if not r.bonus}
    over = [g.title for g in groups if g.timing == rules.OVER and g.id != "bonus"]
    level, reasons = rules.overall_verdict(levels, over, third_person=third)
    labels = rules.READER_LABELS if third else rules.OVERALL_LABELS
    label, so_far = labels[level], None
    core = registry.core()
    passed = {r.id for r in reports if r.status == "passed" and not r.bonus}
    if reports and len(passed) < len(core):  # no readiness verdict on part of the challenge
        state = {r.id: r.status for r in reports}
        still = [m.id + (f" ({state[m.id]})" if m.id in state else " (not started)")
                 for m in core if m.id not in passed]
        so_far = level if level in (rules.READY, rules.BORDERLINE, rules.SKILL_UP) else None
        level, label, reasons = rules.in_progress(level, reasons, passed=len(passed), core=len(core), still=still)
    elif level != rules.PENDING:
        reasons.append(f"{len(passed)} of {len(core)} core milestones passed")
    bonus_passed = [r.id for r in reports if r.bonus and r.status == "passed"]
    if bonus_passed:  # shown as evidence, never weighed: ``levels`` above leaves bonus milestones out
        reasons.append(f"extra evidence: bonus {', '.join(bonus_passed)} passed")
    if not reports:
        reasons = ["no milestone started yet"]
    areas = _weak_areas(reports)
    log = LogHealth(events=len(events), torn_lines=[p.line for p in problems if p.kind == "torn"],
                    chain_problems=[f"line {p.line}: {p.detail}" for p in problems if p.kind == "chain"],
                    unknown_milestones=sorted({e.milestone for e in events
                                               if e.milestone and e.milestone not in known}),
                    unusable_events=unusable, malformed=[f"line {p.line}: {p.detail}" for p in problems
                                                         if p.kind == "malformed"],
                    losses=list(losses))
    mistakes, left_out = _mistakes_made(reports)
    return Report(
        handle=handle, generated_at=now, idle_threshold_s=idle_threshold_s, log=log, milestones=reports,
        not_started=[m.id for m in registry.milestones if m not in started and not m.bonus],  # bonus: optional
        groups=groups,
        calibration=_calibration(reports, third_person=third), weakest_areas=areas,
        mistakes_made=mistakes, mistakes_left_out=left_out, verdict=Verdict(level, label, reasons, so_far=so_far),
        rules=rules.rules_text(), rule_numbers=rules.rules_numbers(), audience=audience)


def _usable(events: Sequence[Event]) -> tuple[list[Event], list[int]]:
    """The events the bookkeeping can read, and the seq numbers of those it cannot.

    ``read_log`` already leaves out events whose data does not match their type's
    model (``challenge.record.events``); events built by hand get the same check here.
    """
    usable, unusable = [], []
    for event in events:
        if data_problem(event.type, event.data) is not None:
            unusable.append(event.seq)
        else:
            usable.append(event)
    return usable, unusable


def _started(item: MilestoneProgress | None) -> bool:
    return item is not None and (item.started or bool(item.attempts))


# -- one milestone -----------------------------------------------------------

def _milestone(m: Milestone, item: MilestoneProgress, times: TimeAccount, events: Sequence[Event],
               registry: Registry, results: ResultsDocs, similarity: Any = None, written: Any = None,
               third_person: bool = False) -> MilestoneReport:
    mine = [e for e in events if e.milestone == m.id]
    time = _time(times.per_milestone.get(m.id, MilestoneTime()), mine)
    band = Band(m.target_hours.low, m.target_hours.high)
    attempts = _attempts(item, mine, results)
    passed_at = item.passed_at
    peeks_before = sum(1 for e in mine if e.type == "peek" and (passed_at is None or e.ts < passed_at))
    reflection = _reflection(m, item, mine, registry)
    timing = rules.timing_class(time.total_h, m.target_hours)
    level, reasons = rules.milestone_verdict(rules.MilestoneFacts(
        passed=item.passed, feel_score=reflection.feel_score, timing=timing, peeks_before_pass=peeks_before),
        third_person=third_person)
    forbidden = sorted({name for a in attempts for name in a.forbidden_used})
    return MilestoneReport(
        id=m.id, title=m.title, group=m.target_group, bonus=m.bonus,
        status="passed" if item.passed else "in progress", target=band, time=time, timing=timing,
        attempts=attempts, first_pass=item.first_pass if item.attempts else None,
        hints_used=item.hints_used, hints_total=len(m.hints), peeks=item.peeks, peeks_before_pass=peeks_before,
        builtins_used=sorted({name for a in attempts for name in a.builtins_used}), forbidden_used=forbidden,
        predicted_hours=item.predicted_hours, predicted_pass=item.predicted_pass, reflection=reflection,
        mistakes=_mistakes(m.id, attempts), verdict=Verdict(level, level, reasons), similarity=similarity,
        written=written, curves=_latest_curves(mine, results))


def _time(t: MilestoneTime, mine: Sequence[Event]) -> TimeSummary:
    adjustments = [Adjustment(e.ts, _float(e.data.get("seconds")) or 0.0, str(e.data.get("note", "")))
                   for e in mine if e.type == "time_adjust"]
    return TimeSummary(active_s=t.active_s, idle_s=t.idle_s, paused_s=t.paused_s, adjusted_s=t.adjusted_s,
                       total_s=t.total_s, clock_s=t.clock_s, adjustments=adjustments)


def _attempts(item: MilestoneProgress, mine: Sequence[Event], results: ResultsDocs) -> list[AttemptSummary]:
    test_events = [e for e in mine if e.type == "test" and not is_stub_run(e)]  # as item.attempts
    found = []
    for number, (attempt, event) in enumerate(zip(item.attempts, test_events), start=1):
        failed, mistakes, note = _failed_in(attempt.status, attempt.results_file, results)
        forbidden = event.data.get("forbidden_used") or []
        found.append(AttemptSummary(
            number=number, ts=attempt.ts, status=attempt.status, passed=attempt.passed, total=attempt.total,
            confidence=attempt.confidence, builtins_used=sorted(map(str, attempt.builtins_used)),
            forbidden_used=sorted(map(str, forbidden)) if isinstance(forbidden, list) else [],
            failed_tests=failed, results_note=note, mistakes=mistakes,
            isolated=isolated if isinstance(isolated := event.data.get("sandbox_isolated"), bool) else None))
    return found


NOT_LOADED = "could not load the code"


def _failed_in(status: str, results_file: str | None, results: ResultsDocs
               ) -> tuple[list[str], list[Finding], str | None]:
    """(failed test names, what they show as (key, label, diagnosed), why either may be incomplete)."""
    if status == "pass":
        return [], [], None
    if not results_file:
        return [], [], "no results file in the log"
    document = results.get(results_file)
    if document is None:
        return [], [], f"results file {results_file} is missing or unreadable"
    tests = tests_from_document(document)
    failing = [t for t in tests if t.status != "pass"]
    if not tests:
        return [NOT_LOADED], [Finding(NOT_LOADED, NOT_LOADED, LOCALISED)], None  # where it failed: loading
    shown = {}
    for test in failing:
        key, label = failure_key(test)
        diagnosis = test.diagnosis
        kind = NAMED if diagnosis is not None and diagnosis.mistake else \
            LOCALISED if diagnosis is not None and diagnosis.summary else FAILED
        shown.setdefault(key, Finding(key, label, kind))
    return [t.name or "?" for t in failing], list(shown.values()), None


def _mistakes(milestone: str, attempts: Sequence[AttemptSummary]) -> list[MistakeMade]:
    """Each mistake (or undiagnosed failing family) once per attempt that showed it, the most frequent first."""
    counts: Counter = Counter()
    seen: dict[str, Finding] = {}
    for attempt in attempts:
        for finding in attempt.mistakes:
            counts[finding.key] += 1
            seen.setdefault(finding.key, finding)
    made = [MistakeMade(milestone, key, seen[key].label, seen[key].diagnosed, n, kind=seen[key].kind)
            for key, n in counts.items()]
    return sorted(made, key=_mistake_rank)


def _mistake_rank(made: MistakeMade) -> tuple:
    """Named mistakes first, then faults only localised, then failing families; each the most frequent first."""
    return FINDING_ORDER.index(made.kind), -made.attempts, made.milestone, made.label


def _latest_curves(mine: Sequence[Event], results: ResultsDocs) -> list:
    """The curves of the latest test whose results document holds any (e.g. accuracy per position)."""
    from challenge.report.curves import curves_in

    for event in reversed([e for e in mine if e.type == "test"]):
        curves = curves_in(results.get(event.data.get("results_file")) if isinstance(
            event.data.get("results_file"), str) else None)
        if curves:
            return curves
    return []


def _reflection(m: Milestone, item: MilestoneProgress, mine: Sequence[Event], registry: Registry) -> Reflection:
    answers = item.reflection or {}
    ratings = []
    for qid in registry.questions_for(m):
        question = registry.questions.questions.get(qid)
        if question is None:
            continue
        answer = answers.get(qid)
        raw = answer.get("rating") if isinstance(answer, dict) else answer
        rating = int(raw) if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 5 else None
        note = answer.get("text") if isinstance(answer, dict) and isinstance(answer.get("text"), str) else None
        ratings.append(Rating(question=qid, text=question.text, area=question.area, feel=question.feel,
                              rating=rating, comfort=rules.comfort(question, rating) if rating else None,
                              note=note or None))
    feel = [r.comfort for r in ratings if r.feel and r.comfort is not None]
    answered = sum(1 for r in ratings if r.rating is not None)
    status = "missing" if not answered else "answered" if answered == len(ratings) else "partial"
    reflected = [e.ts for e in mine if e.type == "reflect"]
    return Reflection(status=status, ratings=ratings, feel_score=sum(feel) / len(feel) if feel else None,
                      answered_at=reflected[-1] if reflected else None, replaced=item.reflections_replaced)


# -- across milestones -------------------------------------------------------

def _groups(registry: Registry, reports: Sequence[MilestoneReport]) -> list[GroupReport]:
    found = []
    for gid, group in registry.groups.groups.items():
        members = [m for m in registry.milestones if m.target_group == gid]
        mine = [r for r in reports if r.group == gid]
        if not mine:
            continue
        total_s = sum(r.time.total_s for r in mine)
        passed = sum(1 for r in mine if r.status == "passed")
        found.append(GroupReport(
            id=gid, title=group.title, target=Band(group.target_hours.low, group.target_hours.high),
            milestones=[r.id for r in mine], passed=passed, size=len(members), total_s=total_s,
            timing=rules.timing_class(total_s / 3600, group.target_hours), complete=passed == len(members)))
    return found


def _calibration(reports: Sequence[MilestoneReport], *, third_person: bool = False) -> Calibration:
    predictions: list[PassPrediction] = []
    hours: list[HoursPrediction] = []
    for r in reports:
        if r.predicted_pass is not None and r.attempts:
            first = r.attempts[0]
            predictions.append(PassPrediction(r.id, "at start", first.ts, r.predicted_pass, first.status == "pass"))
        for a in r.attempts:
            if a.confidence is not None:
                predictions.append(PassPrediction(r.id, f"before test {a.number}", a.ts, a.confidence,
                                                  a.status == "pass"))
        if r.predicted_hours is not None:
            hours.append(HoursPrediction(r.id, r.predicted_hours, r.time.total_h, r.status == "passed"))
    pairs = [(p.predicted, p.passed) for p in predictions]
    bias = confidence_bias(pairs)
    finished = [(h.milestone, h.predicted, h.actual) for h in hours if h.final]
    return Calibration(pass_predictions=predictions, brier=brier_score(pairs),
                       mean_predicted=bias[0] if bias else None, pass_rate=bias[1] if bias else None,
                       confidence_words=describe_confidence(pairs, third_person=third_person), hours=hours,
                       hours_words=describe_hours(finished, third_person=third_person))


def _weak_areas(reports: Sequence[MilestoneReport]) -> list[WeakArea]:
    by_area: dict[str, list[tuple[str, float]]] = {}
    for r in reports:
        for rating in r.reflection.ratings:
            if rating.feel and rating.comfort is not None:
                by_area.setdefault(rating.area, []).append((r.id, rating.comfort))
    weak = []
    for area, values in by_area.items():
        mean = sum(v for _, v in values) / len(values)
        if mean < rules.RULES.weak_area_below:
            low = [mid for mid, v in values if v < rules.RULES.weak_area_below]
            weak.append(WeakArea(area, mean, list(dict.fromkeys(low))))
    weak.sort(key=lambda a: (a.mean_comfort, a.area))
    return weak[: rules.RULES.max_weak_areas]


def _mistakes_made(reports: Sequence[MilestoneReport]) -> tuple[list[MistakeMade], int]:
    """(the mistakes the report names, how many it leaves out): named ones first, see ``_mistake_rank``."""
    every = sorted((t for r in reports for t in r.mistakes), key=_mistake_rank)
    shown = every[: rules.RULES.max_weak_areas]
    return shown, len(every) - len(shown)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
