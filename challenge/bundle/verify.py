"""`challenge verify`: re-grade a stranger's bundle safely.

Order: safe extraction and the integrity checks (``challenge.bundle.integrity``;
any failure: exit 2, nothing runs); then, only where this machine can isolate
foreign code (network namespace + Landlock) or ``--allow-unisolated`` says
so, every milestone is re-graded in the sandbox with *this* machine's grader
and hidden tests, in milestone order. The built-ins a milestone may use follow
from the milestones verified so far, never from the bundle's claims. Training
milestones are graded on the shipped checkpoint (weights only: safetensors
cannot run code); ``--retrain`` also re-runs the learner's training within its
budget (CPU seconds at a fixed thread count, as ``challenge train`` counts it,
so a busy verifier's machine trains as much) and grades that model.

Claims come from the bundle's (chain-checked) event log; results documents in
the bundle are never trusted, so a forged "pass" changes nothing.
Exit: 0 every claimed pass verified, 1 a claim did not verify, 2 invalid or
tampered bundle, 3 refused (no isolation here).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grader
from challenge.bundle.errors import IsolationUnavailable, Problem
from challenge.bundle.extract import Limits
from challenge.bundle.integrity import OpenedBundle, open_bundle
from challenge.errors import ChallengeError
from challenge.feedback.failure_groups import group_failures
from challenge.record.progress import MilestoneProgress, derive_progress
from challenge.feedback.results_document import read_results
from challenge.safe_json import read_json_file
from challenge.record.timekeeping import account
from challenge.record.workspace import CONFIG_NAME, read_config
from milestones import Milestone, Registry


WHAT_IT_PROVES = ("What this proves: the code passes the hidden tests on this machine, and the bundle is consistent "
                  "as packed. It cannot prove who wrote the code, nor that the time, attempts and help columns are "
                  "complete: they are the learner's own record. A similarity below the threshold does not prove "
                  "independent work either: renaming, layout, reordered definitions and swapped idioms are seen "
                  "through, but code rewritten by hand, or copied from anywhere but the reference, scores low.")


@dataclass(frozen=True)
class VerifyOptions:
    retrain: bool = False
    allow_unisolated: bool = False  # accept the fallback sandbox (or none) where bubblewrap cannot start
    seed: int | None = None  # None: fresh shapes and values (never the learner's seeds)


@dataclass
class MilestoneVerification:
    id: str
    title: str
    claimed: str  # pass | fail | not tested (from the bundle's log)
    verified: str = "not run"  # pass | fail | error | not run (re-graded here)
    tests: str = ""  # "18/18"
    active_s: float = 0.0
    attempts: int = 0
    hints: int = 0
    peeks: int = 0
    builtins_used: list[str] = field(default_factory=list)
    similarity: float | None = None  # of the shipped file to the reference (challenge.similarity), None: not measured
    similarity_flagged: bool = False
    retrained: str | None = None  # pass | fail | error with --retrain, training milestones only
    notes: list[str] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # the learner's captured output per test (for auditing)

    @property
    def agrees(self) -> bool:
        """A claimed pass must verify (and, when retrained, the retrained model too)."""
        if self.claimed != "pass":
            return True
        return self.verified == "pass" and self.retrained in (None, "pass")

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "outputs"}
        return data | {"agrees": self.agrees}


@dataclass
class Verification:
    source: str
    handle: str = ""
    created_at: float | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    milestones: list[MilestoneVerification] = field(default_factory=list)
    grader_version: str = grader.GRADER_VERSION
    bundle_grader_version: str = ""

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 0 if all(m.agrees for m in self.milestones) else 1

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "challenge-verification", "version": 1, "source": self.source, "handle": self.handle,
                "created_at": self.created_at, "exit_code": self.exit_code,
                "problems": [p.to_dict() for p in self.problems], "warnings": self.warnings,
                "grader_version": self.grader_version, "bundle_grader_version": self.bundle_grader_version,
                "milestones": [m.to_dict() for m in self.milestones], "what_this_proves": WHAT_IT_PROVES}


def isolation_problem() -> str | None:
    """Why this machine cannot isolate foreign code, or None when it can (probe only, runs nothing foreign)."""
    from grader import api

    mode = api.isolation()
    if mode.isolated:
        return None
    if mode.kind == "namespaces":
        return ("bubblewrap cannot start here (no unprivileged user namespaces?); only the weaker fallback "
                "sandbox (namespaces and Landlock over the host's files) is available")
    return "no sandbox can start here: bubblewrap and `unshare` both failed (user namespaces not permitted?)"


def verify_bundle(*, source: Path, registry: Registry, options: VerifyOptions = VerifyOptions(),
                  limits: Limits = Limits(), on_milestone: Callable[[str], None] | None = None,
                  isolation: Callable[[], str | None] = isolation_problem,
                  on_checked: Callable[[OpenedBundle], None] | None = None) -> Verification:
    """Check ``source`` and re-grade it; problems make ``exit_code`` 2 and stop before any code runs.

    ``on_checked`` is called with the extracted bundle once its integrity checks passed, before
    anything runs (`challenge cohort verify` reads the learner's claims there without extracting twice).
    """
    verification = Verification(source=str(source))
    with open_bundle(source, limits=limits) as opened:
        verification.problems.extend(opened.problems)
        verification.warnings.extend(opened.warnings)
        if not opened.valid or opened.manifest is None or opened.log is None:
            return verification
        manifest = opened.manifest
        verification.handle, verification.created_at = manifest.handle, manifest.created_at
        verification.bundle_grader_version = manifest.grader_version
        if manifest.grader_version != grader.GRADER_VERSION:
            verification.warnings.append(f"the bundle was graded with grader {manifest.grader_version}; "
                                         f"this is grader {grader.GRADER_VERSION}")
        verification.milestones = _claims(opened, registry)
        if on_checked is not None:
            on_checked(opened)
        if any(m.id in _known(registry) for m in verification.milestones):
            reason = isolation()
            if reason is not None:
                if not options.allow_unisolated:
                    raise IsolationUnavailable(reason)
                verification.warnings.append(f"ran the learner's code WITHOUT isolation ({reason}): "
                                             "--allow-unisolated was given")
        with tempfile.TemporaryDirectory(prefix="challenge-verify-") as scratch:
            _regrade(opened, registry, verification, options, Path(scratch), on_milestone)
    return verification


def _known(registry: Registry) -> set[str]:
    return {m.id for m in registry.milestones}


def _claims(opened: OpenedBundle, registry: Registry) -> list[MilestoneVerification]:
    events = opened.log.events
    progress = derive_progress(events)
    idle = read_config(opened.workspace / CONFIG_NAME).idle_threshold_s  # checked by the integrity checks
    times = account(events, now=opened.manifest.created_at, idle_threshold_s=idle)
    titles = {m.id: m.title for m in registry.milestones}
    order = [m.id for m in registry.milestones]
    ids = [mid for mid, item in progress.items() if item.started or item.attempts]
    ids += [m.id for m in opened.manifest.milestones if m.id not in ids]
    ids.sort(key=lambda mid: (order.index(mid) if mid in order else len(order), mid))
    found = []
    for mid in ids:
        item = progress.get(mid, MilestoneProgress(mid))
        claimed = "pass" if item.passed else ("fail" if item.attempts else "not tested")
        check = MilestoneVerification(id=mid, title=titles.get(mid, mid), claimed=claimed,
                                      active_s=times.per_milestone[mid].active_s if mid in times.per_milestone else 0.0,
                                      attempts=len(item.attempts), hints=item.hints_used, peeks=item.peeks)
        if mid not in titles:
            check.notes.append("unknown to this harness: not re-graded")
        found.append(check)
    return found


def _regrade(opened: OpenedBundle, registry: Registry, verification: Verification, options: VerifyOptions,
             scratch: Path, on_milestone: Callable[[str], None] | None) -> None:
    verified_passed: set[str] = set()
    for check in verification.milestones:
        if check.id not in _known(registry):
            continue
        milestone = registry.get(check.id)
        if on_milestone:
            on_milestone(check.id)
        learner = opened.workspace / milestone.folder / milestone.learner_file
        if not learner.is_file():
            check.verified = "error"
            check.notes.append(f"no code in the bundle ({milestone.folder}/{milestone.learner_file})")
            continue
        _note_changed_code(opened, check, learner)
        _measure_similarity(check, learner, registry.folder(milestone))
        grading = _grade(milestone, learner, opened, registry, verified_passed, options, scratch, check)
        if grading is not None:
            _record(check, grading, opened, verification)
        if options.retrain and milestone.training is not None:
            check.retrained = _retrain(milestone, learner, opened, registry, verified_passed, options, scratch, check)
        if check.verified == "pass":
            verified_passed.add(check.id)


def _isolation(options: VerifyOptions) -> str:
    return "best" if options.allow_unisolated else "strong"


def _grade(milestone: Milestone, learner: Path, opened: OpenedBundle, registry: Registry, passed: set[str],
           options: VerifyOptions, scratch: Path, check: MilestoneVerification, inputs: tuple | None = None):
    from challenge.run_requests import grade_request
    from grader import api

    if inputs is None:
        inputs = _shipped_inputs(milestone, opened, scratch, check)
        if inputs is None:
            check.verified = "error"
            return None
    task, trained = inputs
    request = grade_request(registry=registry, milestone=milestone, learner_file=learner, passed=passed,
                            seed=options.seed, task=task, trained=trained, isolation=_isolation(options))
    return api.grade(request)


def _shipped_inputs(milestone: Milestone, opened: OpenedBundle, scratch: Path,
                    check: MilestoneVerification) -> tuple | None:
    from challenge.run_requests import grading_inputs

    try:
        return grading_inputs(milestone=milestone, milestone_dir=opened.workspace / milestone.folder,
                              cache_dir=scratch / "cache")
    except Exception as error:  # noqa: BLE001 - no checkpoint, other data, data unavailable: all named in a note
        message = error.message if isinstance(error, ChallengeError) else f"{type(error).__name__}: {error}"
        check.notes.append(f"shipped checkpoint not evaluated: {message}")
        return None


def _record(check: MilestoneVerification, result, opened: OpenedBundle, verification: Verification) -> None:
    check.verified = result.status
    check.tests = f"{result.passed}/{len(result.tests)}"
    check.builtins_used = list(result.builtins_used)
    check.sandbox = dict(result.sandbox)
    check.outputs = [t.output for t in result.tests if t.output]
    if result.status == "error" and result.message:
        check.notes.append(_about_the_learner(result.message.splitlines()[0]))
    failing = [t for t in result.tests if t.status != "pass"]
    if failing:
        first = group_failures(result.tests)[0]
        what = (f"the judge diagnosed: {first.title}" if first.diagnosed else f"first: {failing[0].name}")
        check.notes.append(f"{len(failing)} test(s) failed here; {what}")
    if result.forbidden_used:
        check.notes.append("used forbidden built-ins: " + ", ".join(result.forbidden_used))
    entry = opened.manifest.milestone(check.id)
    if entry is not None and entry.hidden_tests_sha256 and entry.hidden_tests_sha256 != result.hidden_tests_sha256:
        verification.warnings.append(f"{check.id}: the bundle was graded with other hidden tests "
                                     f"({entry.hidden_tests_sha256[:12]}) than this grader's "
                                     f"({result.hidden_tests_sha256[:12]})")
    if result.sandbox and not result.sandbox.get("isolated"):
        verification.warnings.append(f"{check.id}: re-graded without full isolation ({result.sandbox.get('network')}, "
                                     f"{result.sandbox.get('filesystem')})")


def _about_the_learner(text: str) -> str:
    """The grader's message to the learner ("Your file could not be loaded") said about them, for the employer."""
    return "The learner's " + text[len("Your "):] if text.startswith("Your ") else text


def _measure_similarity(check: MilestoneVerification, learner: Path, milestone_folder: Path) -> None:
    """How much of the shipped file the reference shares: read as text, nothing runs."""
    from challenge.similarity import THRESHOLD, read_source, reference_similarity

    source = read_source(learner)
    check.similarity = reference_similarity(source, milestone_folder) if source is not None else None
    if check.similarity is not None and check.similarity >= THRESHOLD:
        check.similarity_flagged = True
        check.notes.append(f"the code shares {check.similarity:.0%} of its code with the reference (flagged at "
                           f"{THRESHOLD:.0%}; renaming and layout do not count): as good as a copy")


def _note_changed_code(opened: OpenedBundle, check: MilestoneVerification, learner: Path) -> None:
    """Say so when the shipped code is not the code whose run the log records as the pass."""
    progress = derive_progress(opened.log.events).get(check.id)
    attempt = next((a for a in progress.attempts if a.status == "pass"), None) if progress else None
    if attempt is None or not attempt.results_file:
        return
    base = opened.workspace.resolve()
    path = (base / attempt.results_file).resolve()
    if not path.is_relative_to(base):  # the log is not trusted to point outside the bundle
        return
    try:
        claimed_sha = read_results(path).get("learner_file_sha256")
    except (OSError, ValueError):  # checked by the integrity checks; a results file outside them is not trusted
        return
    if claimed_sha and claimed_sha != hashlib.sha256(learner.read_bytes()).hexdigest():
        check.notes.append("the shipped code differs from the code of the logged pass (edited afterwards)")


def _retrain(milestone: Milestone, learner: Path, opened: OpenedBundle, registry: Registry, passed: set[str],
             options: VerifyOptions, scratch: Path, check: MilestoneVerification) -> str:
    from challenge.training.checkpoints import latest_checkpoint
    from challenge.run_requests import train_request, training_budget
    from challenge.taskdata import prepare_data
    from grader import api

    shipped = latest_checkpoint(opened.workspace / milestone.folder)
    config = _read_json(shipped / "config.json") if shipped else {}
    budget = training_budget(milestone, asked=config.get("budget_s"), use="recorded")
    try:
        task = prepare_data(milestone, cache_dir=scratch / "cache")
    except Exception as error:  # noqa: BLE001 - DataUnavailable and friends, named in the note
        check.notes.append(f"retraining impossible here: {error}")
        return "error"
    seed = int(config.get("seed", 0)) if isinstance(config.get("seed", 0), int) else 0
    outcome = api.train(train_request(registry=registry, milestone=milestone, learner_file=learner, passed=passed,
                                      task=task, budget_s=budget, seed=seed, isolation=_isolation(options)))
    if outcome.status != "trained":
        check.notes.append(f"retraining failed: {outcome.message}")
        return "error"
    trained = api.TrainedModel(state=outcome.state, training_log=tuple(outcome.history))
    result = _grade(milestone, learner, opened, registry, passed, options, scratch, check, (task, trained))
    shipped_threads = config.get("threads")
    same_threads = not isinstance(shipped_threads, int) or shipped_threads == outcome.threads
    check.notes.append(f"retrained for {outcome.cpu_s:.0f} CPU s on {outcome.threads} thread(s), "
                       f"{outcome.elapsed_s:.0f} s wall (budget {budget:g} CPU s): {result.status}, "
                       f"{result.passed}/{len(result.tests)} tests"
                       + ("" if same_threads else f"; the shipped model was trained on {shipped_threads} thread(s)"))
    return result.status


def _read_json(path: Path) -> dict:
    try:
        loaded = read_json_file(path, max_bytes=1 << 20)
        return loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        return {}
