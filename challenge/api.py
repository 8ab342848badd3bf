"""The challenge as a small Python API: what the notebook's magics and the CLI do, for scripts.

    from challenge import api

    outcome = api.test("attention", workspace="submissions/ada")   # graded in the sandbox, logged as an attempt
    outcome.status                  # "pass" | "fail" | "error"
    outcome.to_dict()               # {"results_file": ..., "result": the results document}
    api.train("gpt", budget_s=120)  # a TrainResult: the outcome and the checkpoint folder
    api.status()                    # a StatusSnapshot: the clock, time and attempts per milestone
    api.report()                    # the Report the CLI renders (to_dict(): `challenge report --format json`)

Each returns the object the CLI renders, with ``to_dict()`` for scripts and
``_repr_html_`` for notebooks (the CLI's own rendering, as HTML). Each function
calls the same plain functions as its command and writes the same records in
the event log. Errors are raised as ``challenge.errors.ChallengeError`` (a
message and a hint) and the grader's own (``grader.api.Interrupted`` after a
Ctrl-C, whose attempt is logged as interrupted).

``workspace``: the folder, or None to find it as the CLI does (``CHALLENGE_WORKSPACE``,
the current folder or one above, the only one under ``./submissions``).
Importing this module imports no torch; grading and training do, in the sandbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from challenge.feedback.grading import TestOutcome
    from challenge.report.view import ReportView
    from challenge.record.status import StatusSnapshot
    from challenge.training.run import TrainResult

__all__ = ["report", "status", "test", "train"]


def _context(workspace: str | Path | None):
    from challenge.commands.context import open_context

    return open_context(Path(workspace) if workspace is not None else None)


def test(milestone: str, *, workspace: str | Path | None = None, seed: int | None = None,
         confidence: float | None = None) -> "TestOutcome":
    """Grade the milestone's file as `challenge test` does, and log the attempt.

    ``seed``: the shapes and values of an earlier run; ``confidence``: how sure you are that it passes (0-1),
    recorded before it runs.
    """
    from challenge.feedback.grading import record_confidence, run_tests, sandbox_for_tests
    from challenge.run_requests import learner_file_of

    with sandbox_for_tests() as warm:  # the sandbox imports torch while this process reads the workspace
        ctx = _context(workspace)
        m = ctx.milestone(milestone)
        learner_file_of(ctx.workspace, m)
        if confidence is not None:
            record_confidence(workspace=ctx.workspace, milestone=m, confidence=confidence)
        return run_tests(workspace=ctx.workspace, registry=ctx.registry, milestone=m, seed=seed, grader=warm)


def train(milestone: str, *, workspace: str | Path | None = None, budget_s: float | None = None,
          device: str = "cpu", seed: int = 0, progress: bool = True) -> "TrainResult":
    """Train the milestone's model as `challenge train` does (a checkpoint in the workspace, logged).

    ``progress``: show the bar (in a notebook, in the cell). A first Ctrl-C (or kernel interrupt) stops the
    loop and keeps the model; a second abandons the run.
    """
    from challenge.output import out
    from challenge.run_requests import training_budget
    from challenge.training.bar import training_bar
    from challenge.training.run import cache_dir_of, prepare_data, train_milestone

    ctx = _context(workspace)
    m = ctx.milestone(milestone)
    budget = training_budget(m, asked=budget_s)  # decided once, as `challenge train` decides it
    task = prepare_data(m, cache_dir=cache_dir_of(ctx.workspace))
    common = dict(workspace=ctx.workspace, registry=ctx.registry, milestone=m, budget_s=budget, device=device,
                  seed=seed, task=task)
    if not progress:
        return train_milestone(**common)
    with training_bar(out.console, label=f"training {m.id}", budget_s=budget) as bar:
        return train_milestone(**common, on_progress=bar.on_progress, on_stop_requested=bar.on_stop_requested)


def status(*, workspace: str | Path | None = None) -> "StatusSnapshot":
    """The clock, and time, attempts and help per started milestone (`challenge status`)."""
    from challenge.record.status import read_status

    ctx = _context(workspace)
    return read_status(workspace=ctx.workspace, registry=ctx.registry)


def report(*, workspace: str | Path | None = None) -> "ReportView":
    """The self-calibration report (`challenge report`): a ``Report`` that draws itself in a notebook;
    ``to_dict()`` is its JSON document."""
    from challenge.report import build_report
    from challenge.report.view import ReportView

    ctx = _context(workspace)
    return ReportView.of(build_report(workspace_root=ctx.workspace.root, registry=ctx.registry,
                                      now=ctx.workspace.clock()))
