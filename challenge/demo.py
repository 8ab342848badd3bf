"""`challenge demo`: a simulated learner does the challenge in a temporary
workspace, with the reference solutions (after a realistic wrong first try),
and the result is graded, reported, bundled and verified.

By default (fast) it plays the module milestones only, in about a minute; with
``full`` it also trains and grades the training milestones (minutes each), when
their data is here or on the hub. Whatever it does not play is named, with why.

Time is simulated: the workspace gets an injected clock that moves through a
plausible few days of work, so the report has something to say. Everything
else is real: the sandbox, the hidden tests, training on the harness's data,
the bundle and its verification.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from challenge.record.bookkeeping import pause_clock, resume_clock, start_milestone, take_hint
from challenge.data import MissingData, describe_missing, missing_data
from challenge.errors import FETCH_COMMAND, IMPORT_COMMAND
from challenge.errors import ChallengeError
from challenge.feedback.grading import record_confidence, run_tests
from challenge.record.reflection import parse_answers, reflection_questions, record_reflection
from challenge.record.workspace import Workspace, init_workspace
from milestones import Milestone, Registry
from milestones.mutants import mutant_source

if TYPE_CHECKING:
    from challenge.bundle.verify import Verification

HOUR = 3600.0


@dataclass(frozen=True)
class Scene:
    """What the simulated learner does on one milestone."""

    milestone: str
    predict_hours: float
    predict_pass: float
    hours: float  # active hours spent, simulated
    first_try: str | None  # a mutant from the catalogue (mutants.yaml), submitted before the reference
    feel: int  # the 1-5 rating given to every reflection question


SCRIPT = (
    Scene("attention", 2.0, 0.6, 2.5, "no_scaling", 4),
    Scene("multihead", 3.0, 0.5, 3.5, "heads_without_transpose", 4),
    Scene("block", 2.0, 0.7, 2.0, "ln_eps_outside_sqrt", 4),
    Scene("classifier", 4.0, 0.5, 5.5, None, 3),
    Scene("bert", 6.0, 0.4, 8.0, None, 3),
    Scene("gpt", 6.0, 0.5, 7.0, None, 4),
)


class SimulatedClock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class DemoResult:
    folder: Path
    workspace: Workspace
    passed: list[str]
    not_played: dict[str, str] = field(default_factory=dict)  # milestone id -> why it was skipped
    failed: dict[str, str] = field(default_factory=dict)  # milestone id -> what went wrong
    missing: list[MissingData] = field(default_factory=list)  # training data not on this machine nor the hub
    bundle: Path | None = None
    verification: Verification | None = None
    report_files: list[Path] | None = None


Say = Callable[[str], None]
# (label, budget_s) -> a context manager yielding the bar's callbacks (see challenge.training.bar)
Bar = Callable[[str, float], AbstractContextManager]
FAST_SKIP = "skipped in the fast demo"
COPY_WHY = "that is the copy check working, as it would on a learner who pasted them"


def flagged_as_copies(verification) -> str | None:
    """Why the employer's view marks the demo learner's milestones as copies, or None when none is."""
    flagged = [m.id for m in getattr(verification, "milestones", ()) if m.similarity_flagged]
    if not flagged:
        return None
    return (f"'like ref.' is flagged for {', '.join(flagged)}: the simulated learner pasted the reference "
            f"solutions; {COPY_WHY}.")


def run_demo(*, folder: Path, registry: Registry, full: bool, say: Say, show_result: Callable[[object, str], None],
             bar: Bar | None = None, handle: str = "demo-learner", script: tuple[Scene, ...] = SCRIPT) -> DemoResult:
    """Play ``script`` as the learner ``handle`` (other scripts and handles make a simulated cohort)."""
    total_hours = sum(s.hours for s in script) + 24 * len(script)
    clock = SimulatedClock(time.time() - total_hours * HOUR)
    workspace = init_workspace(handle=handle, path=folder / "workspace", clock=clock)
    result = DemoResult(folder=folder, workspace=workspace, passed=[])
    trained = [registry.get(s.milestone) for s in script if registry.get(s.milestone).training is not None]
    result.missing = missing_data(registry=registry, milestones=trained)
    lacking = {mid: item.corpus for item in result.missing for mid in item.milestones}
    say(f"A simulated learner, '{handle}', starts in {workspace.root} (time is simulated; grading is real).")
    say(f"It pastes the reference solutions (after a classic mistake), so the report and the employer flag its "
        f"code as a copy of the reference: {COPY_WHY}.")
    if not full and trained:
        say(f"Fast demo: the module milestones only; {', '.join(m.id for m in trained)} train for minutes each "
            "and are skipped (`challenge demo --full` plays them).")
    if full and result.missing:
        cannot = [m.id for m in trained if m.id in lacking]
        say(f"Full demo, but {', '.join(cannot)} cannot be played: their data is not on this machine and the "
            f"Hugging Face hub is unreachable ({describe_missing(result.missing)}). The rest is played. To play "
            f"them: {FETCH_COMMAND} (once, online), or offline {IMPORT_COMMAND} with a copy in the original formats.")
    for scene in script:
        milestone = registry.get(scene.milestone)
        if milestone.training is not None and not full:
            result.not_played[milestone.id] = FAST_SKIP
            continue
        if milestone.id in lacking:
            result.not_played[milestone.id] = f"no {lacking[milestone.id]} data on this machine or the hub"
            say(f"[{milestone.number:02d}] {milestone.title}: skipped, no {lacking[milestone.id]} data.")
            continue
        problem = _play(scene, milestone, workspace, registry, clock, say, show_result, bar or _no_bar)
        if problem is None:
            result.passed.append(milestone.id)
        else:
            result.failed[milestone.id] = problem
        clock.advance(16 * HOUR)  # a night's sleep between milestones
    return result


def _no_bar(label: str, budget_s: float) -> AbstractContextManager:
    from challenge.training.progress import TrainingBar

    return nullcontext(TrainingBar(lambda info: None, lambda: None))


def _work(workspace: Workspace, clock: SimulatedClock, hours: float) -> None:
    """Simulated editing: saves every 20 minutes, recorded as activity."""
    end = clock.now + hours * HOUR
    while clock.now < end:
        step = min(20 * 60, end - clock.now)
        clock.advance(step)
        workspace.log.append("activity", data={"edits": [clock.now - 1], "simulated": True})


def _play(scene: Scene, milestone: Milestone, workspace: Workspace, registry: Registry, clock: SimulatedClock,
          say: Say, show_result, bar: Bar) -> str | None:
    """Play one milestone; None when it passed, else what went wrong."""
    say(f"[{milestone.number:02d}] {milestone.title}: predicts {scene.predict_hours:g} h and a "
        f"{scene.predict_pass:.0%} chance of passing first time.")
    started = start_milestone(workspace=workspace, registry=registry, milestone=milestone,
                              predict_hours=scene.predict_hours, predict_pass=scene.predict_pass)
    source = registry.folder(milestone)
    if scene.first_try:
        _work(workspace, clock, scene.hours * 0.6)
        started.learner_file.write_text(mutant_source(source, scene.first_try), encoding="utf-8")
        outcome = run_tests(workspace=workspace, registry=registry, milestone=milestone)
        show_result(outcome.result, "first try (with a classic mistake)")
        hint = take_hint(workspace=workspace, milestone=milestone)
        if hint.text:
            say(f"    takes hint {hint.index + 1}: {hint.text}")
        pause_clock(workspace=workspace)
        clock.advance(HOUR)  # lunch
        resume_clock(workspace=workspace)
        _work(workspace, clock, scene.hours * 0.4)
    else:
        _work(workspace, clock, scene.hours)
    shutil.copyfile(source / "reference.py", started.learner_file)
    if milestone.training is not None and (problem := _train(milestone, workspace, registry, clock, say, bar)):
        return problem
    record_confidence(workspace=workspace, milestone=milestone, confidence=0.8)
    outcome = run_tests(workspace=workspace, registry=registry, milestone=milestone)
    show_result(outcome.result, "after fixing it" if scene.first_try else "graded")
    questions = reflection_questions(registry, milestone)
    record_reflection(workspace=workspace, milestone=milestone,
                      answers=parse_answers({qid: scene.feel for qid, _ in questions}, questions))
    pause_clock(workspace=workspace)
    result = outcome.result
    if result.status == "pass":
        return None
    first = next((t.name for t in result.tests if t.status != "pass"), result.status)
    return f"{result.passed}/{len(result.tests)} tests passed; first failure: {first}"


def _train(milestone: Milestone, workspace: Workspace, registry: Registry, clock: SimulatedClock, say: Say,
           bar: Bar) -> str | None:
    """Train the reference with a progress bar; None when it trained, else why it did not."""
    from challenge.run_requests import training_budget
    from challenge.training.run import cache_dir_of, prepare_data, train_milestone

    budget = training_budget(milestone, use="check")
    say(f"    trains the reference for {budget:g} CPU s on the harness's data (real training, in the sandbox):")
    try:
        task = prepare_data(milestone, cache_dir=cache_dir_of(workspace))
    except ChallengeError as error:
        say(f"    no data: {error.message}")
        return f"no data: {error.message.splitlines()[0]}"
    with bar(f"training {milestone.id}", budget) as callbacks:
        trained = train_milestone(workspace=workspace, registry=registry, milestone=milestone, budget_s=budget,
                                  device="cpu", seed=0, on_progress=callbacks.on_progress,
                                  on_stop_requested=callbacks.on_stop_requested, task=task)
    outcome = trained.outcome
    if outcome.status != "trained":
        say(f"    training failed: {outcome.message}")
        return f"training failed: {outcome.message}"
    trained_for = f"    trained for {outcome.cpu_s:.0f} CPU s ({outcome.elapsed_s:.0f} s wall)"
    say(f"{trained_for}, final loss {outcome.history[-1]['loss']:.3f}" if outcome.history else trained_for)
    clock.advance(outcome.elapsed_s)
    return None


def finish_demo(result: DemoResult, *, registry: Registry, say: Say) -> None:
    """Report, bundle and verify, as the learner and then an employer would."""
    from challenge.bundle.pack import submit
    from challenge.bundle.verify import VerifyOptions, isolation_problem, verify_bundle
    from challenge.report import build_report, write_report

    report = build_report(workspace_root=result.workspace.root, registry=registry, now=result.workspace.clock())
    result.report_files = (write_report(report, fmt="md", output=result.folder / "report.md")
                           + write_report(report, fmt="html", output=result.folder / "report.html"))
    submitted = submit(workspace=result.workspace, registry=registry, output=result.folder)
    result.bundle = submitted.zip_path
    say(f"The learner submits one bundle: {result.bundle}")
    reason = isolation_problem()
    if reason:
        say(f"This machine cannot isolate foreign code ({reason}); the demo verifies its own reference code anyway.")
    say("An employer verifies it: integrity checks, then re-grading in the sandbox with their own grader ...")
    result.verification = verify_bundle(source=result.bundle, registry=registry,
                                        options=VerifyOptions(allow_unisolated=reason is not None))
