"""The one place where a milestone becomes a grader request.

``grade_request`` and ``train_request`` turn milestone data (budgets, the
built-in policy) and the grading inputs (the task's data, a trained model)
into the typed requests of ``grader.api``. Everything that grades or trains
(test, watch, train, dev check, demo, verify) goes through here.

Each request carries the learner's source, read once (``grader.source``): the
hash, the rule check, the workers and the record all see those bytes.
``training_budget`` is the one place a training budget is decided.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from challenge.training.checkpoints import latest_checkpoint, load_checkpoint, read_training_log, require_same_data
from challenge.errors import UsageError
from challenge.taskdata import prepare_data
from challenge.record.workspace import Workspace
from grader.api import BuiltinPolicy, Budgets, GradeRequest, Isolation, TaskData, TrainedModel, TrainRequest
from grader.source import LearnerSource, SourceUnreadable
from milestones import Milestone, Registry


def builtins_policy(registry: Registry, milestone: Milestone, passed: set[str]) -> BuiltinPolicy:
    """What a run of ``milestone`` records (tracked) and refuses (forbidden).

    The challenge's soft rule: a built-in is forbidden while the milestone that
    replaces it has not passed (and always in that milestone itself); after
    that, later milestones may use it. Everything is tracked and reported.
    """
    tracked: set[str] = set()
    forbidden: set[str] = set(milestone.builtins.forbidden_names) | set(milestone.builtins.replaced_names)
    for other in registry.milestones:
        tracked.update(other.builtins.replaced_names, other.builtins.forbidden_names)
        if other.id not in passed:
            forbidden.update(other.builtins.replaced_names)
    return BuiltinPolicy(tracked=tuple(sorted(tracked)), forbidden=tuple(sorted(forbidden)),
                         why=milestone.builtins.why or "", allowed_imports=tuple(milestone.builtins.allowed_imports))


def learner_file_of(workspace: Workspace, milestone: Milestone) -> Path:
    path = workspace.milestone_dir(milestone.folder) / milestone.learner_file
    if not path.is_file():
        raise UsageError(f"{path} does not exist.", f"Start the milestone first: challenge start {milestone.id}")
    return path


MUTANT_BUDGET_S = 10.0  # CPU seconds: a mutant's bug shows without much training; an entry may set check_budget_s
BudgetUse = Literal["learner", "check", "mutant", "recorded"]


def training_budget(milestone: Milestone, *, asked: object = None, use: BudgetUse = "learner") -> float:
    """The training budget, in CPU seconds of the worker, decided once for a run and passed on as this float.

    ``learner``: ``asked`` (``--budget-s``) or the milestone's default, refused outside (0, max];
    ``check``: ``asked`` (a catalogue entry's own) or the milestone's check budget (references, the demo);
    ``mutant``: ``asked`` or ``MUTANT_BUDGET_S``; ``recorded``: a budget read from a bundle's checkpoint
    (untrusted): the default where it is not a positive number, never more than the maximum.
    """
    training = milestone.training
    if training is None:
        raise UsageError(f"'{milestone.id}' is not a training milestone.",
                         f"It has nothing to train: test it with `challenge test {milestone.id}`.")
    if use == "recorded":
        value = asked if isinstance(asked, (int, float)) and not isinstance(asked, bool) else 0.0
        value = float(value) if math.isfinite(value) and value > 0 else training.default_budget_s
        return min(value, training.max_budget_s)
    default = {"learner": training.default_budget_s, "check": training.check_budget_s,
               "mutant": MUTANT_BUDGET_S}[use]
    value = float(asked) if isinstance(asked, (int, float)) and not isinstance(asked, bool) else float(default)
    if use == "learner" and not (math.isfinite(value) and 0 < value <= training.max_budget_s):
        raise UsageError(f"--budget-s must be between 0 and {training.max_budget_s:g} CPU seconds "
                         f"for {milestone.id}.", f"The default is {training.default_budget_s:g} CPU s.")
    return value


def read_source(learner_file: Path) -> LearnerSource | None:
    """The learner's file, read once for a run; None when it cannot be read (the grader then says why)."""
    try:
        return LearnerSource.read(learner_file)
    except SourceUnreadable:
        return None


def budgets_of(milestone: Milestone) -> Budgets:
    grading = milestone.grading
    return Budgets(call_timeout_s=grading.call_timeout_s, run_timeout_s=grading.run_timeout_s,
                   memory_mb=grading.memory_mb)


def grading_inputs(*, milestone: Milestone, milestone_dir: Path,
                   cache_dir: Path) -> tuple[TaskData | None, TrainedModel | None]:
    """(task data, trained model) a milestone's hidden tests read: for a training milestone its data and the
    latest checkpoint in ``milestone_dir``; for one with ``grading.task`` that task's data; else (None, None)."""
    if milestone.training is None:
        return (prepare_data(milestone, cache_dir=cache_dir) if milestone.grading.task else None), None
    folder = latest_checkpoint(milestone_dir)
    if folder is None:
        raise UsageError(f"No trained model for '{milestone.id}' yet.", f"Train first: challenge train {milestone.id}")
    state, config = load_checkpoint(folder)
    task = prepare_data(milestone, cache_dir=cache_dir)
    require_same_data(config, task, trained=milestone.id)
    return task, TrainedModel(state=state, training_log=tuple(read_training_log(folder)))


def grade_request(*, registry: Registry, milestone: Milestone, learner_file: Path, passed: set[str],
                  task: TaskData | None = None, trained: TrainedModel | None = None, seed: int | None = None,
                  isolation: Isolation = "best", device: str = "cpu",
                  source: LearnerSource | None = None) -> GradeRequest:
    return GradeRequest(milestone_id=milestone.id, folder=milestone.folder, learner_file=learner_file,
                        policy=builtins_policy(registry, milestone, passed), budgets=budgets_of(milestone),
                        seed=seed, device=device, isolation=isolation, task=task, trained=trained,
                        source=source or read_source(learner_file))


def train_request(*, registry: Registry, milestone: Milestone, learner_file: Path, passed: set[str], task,
                  budget_s: float, seed: int = 0, device: str = "cpu", isolation: Isolation = "best",
                  source: LearnerSource | None = None) -> TrainRequest:
    """``budget_s``: as ``training_budget`` decided it."""
    return TrainRequest(milestone_id=milestone.id, learner_file=learner_file, task=task, budget_s=budget_s,
                        policy=builtins_policy(registry, milestone, passed), memory_mb=milestone.grading.memory_mb,
                        device=device, seed=seed, isolation=isolation, source=source or read_source(learner_file))
