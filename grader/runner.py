"""Run a milestone's hidden tests against a learner file: the entry point the
CLI, `dev check` and `verify` share.

The judge (this process) runs pytest on ``grader/hidden/<folder>/``; the
learner's code runs only in the sandboxed worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import grader
from grader.client import ForbiddenBuiltin, LearnerException, MissingSymbol, WorkerProblem
from grader.fingerprint import HIDDEN_DIR, hidden_tests_sha256
from grader.plugin import ResultsPlugin, classify
from grader.results import RunResult, TestResult, overall_status
from grader.sandbox import Limits
from grader.session import LearnerSession, SessionConfig



@dataclass(frozen=True)
class RunRequest:
    """Everything one run needs; milestone data comes in as plain values."""

    milestone_id: str
    folder: str
    learner_file: Path
    tracked_builtins: list[str]
    forbidden_builtins: list[str]
    call_timeout_s: float
    run_timeout_s: float
    memory_mb: int
    seed: int | None = None
    device: str = "cpu"
    threads: int = 2
    isolate: bool = True
    options: dict = field(default_factory=dict)  # extra values for training milestones (checkpoint, data)
    forbidden_why: str = ""  # the milestone's reason for its forbidden names, when it is not "write it yourself"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_milestone(request: RunRequest) -> RunResult:
    seed = request.seed if request.seed is not None else random.randrange(1, 2**31)
    folder = HIDDEN_DIR / request.folder
    result = RunResult(milestone=request.milestone_id, status="error", grader_version=grader.GRADER_VERSION,
                       hidden_tests_sha256=hidden_tests_sha256(folder), device=request.device, seed=seed,
                       started_at=time.time())
    started = time.perf_counter()
    if not request.learner_file.is_file():
        result.message = f"{request.learner_file} does not exist."
        return result
    result.learner_file_sha256 = _sha256(request.learner_file)
    config = SessionConfig(
        learner_file=request.learner_file, tracked=request.tracked_builtins, forbidden=request.forbidden_builtins,
        limits=Limits(memory_mb=request.memory_mb, cpu_s=int(request.run_timeout_s * request.threads + 60)),
        call_timeout_s=request.call_timeout_s, run_timeout_s=request.run_timeout_s, threads=request.threads,
        isolate=request.isolate, device=request.device)
    session = LearnerSession(config, options=dict(request.options))
    try:
        try:
            session.ensure_worker()
        except (LearnerException, MissingSymbol, WorkerProblem, ForbiddenBuiltin) as error:
            _, message, hint = classify(error, _forbidden_hint(request.forbidden_builtins), request.forbidden_why)
            result.message = f"Your file could not be loaded. {message}" + (f"\nhint: {hint}" if hint else "")
            result.sandbox = session.worker.mode.to_dict() if session.worker else {}
            return result
        result.sandbox = session.worker.mode.to_dict()
        plugin = ResultsPlugin(session, seed=seed, forbidden_hint=_forbidden_hint(request.forbidden_builtins),
                               forbidden_why=request.forbidden_why)
        args = [str(folder), "-c", str(HIDDEN_DIR / "pytest.ini"), "--rootdir", str(HIDDEN_DIR), "-q",
                "-p", "no:cacheprovider", "-p", "no:timeout", "--import-mode=importlib"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exit_code = pytest.main(args, plugins=[plugin])
        result.tests = plugin.results
        if exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            plugin.collection_errors.append(f"pytest exited with {exit_code!r}")
        if plugin.collection_errors:
            result.tests.append(TestResult(name="collecting the hidden tests", status="error",
                                           message="Harness error: " + "\n".join(plugin.collection_errors),
                                           hint="This is a bug in the grader, not in your code."))
        result.status = overall_status(result.tests)
        result.metrics = session.metrics
        result.examples = session.examples
    finally:
        result.builtins_used = sorted(session.builtins_used)
        result.forbidden_used = sorted(session.forbidden_used)
        result.duration_s = round(time.perf_counter() - started, 3)
        session.close()
    return result


def _forbidden_hint(forbidden: list[str]) -> str:
    if not forbidden:
        return ""
    return ("Write it from tensor operations. A built-in becomes allowed in later milestones once the milestone "
            "that replaces it has passed.")
