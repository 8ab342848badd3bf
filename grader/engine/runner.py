"""Run a milestone's hidden tests against a learner file (``grader.api.grade``).

The judge (this process) runs pytest on ``grader/hidden/<folder>/``; the
learner's code runs only in a worker forked inside the sandbox. A cold run
starts the sandbox first, so that it imports torch while the judge imports
pytest and the hidden tests; ``challenge watch`` passes a warm ``host``.

The built-in rule is decided here, from the source text
(``grader.judge.rules``) and the worker's record of what ran; it is one result
of its own, beside the numerical tests, which run whatever it says.
"""

from __future__ import annotations

import contextlib
import io
import random
import resource
import time
from collections.abc import Callable, Sequence

import grader
from grader.requests import GradeRequest, Interrupted
from grader.engine.deadline import hard_deadline, hard_deadline_s
from grader.engine.host import SandboxHost
from grader.engine.sandbox import Limits
from grader.fingerprint import HIDDEN_DIR, hidden_tests_sha256
from grader.judge.families import EVIDENCE_SEEN, MARKERS, RECORD_OFF
from grader.judge.rules import Violation, check_source, evidence_operators, record_operators
from grader.progress import TestProgress
from grader.results import RunResult, TestResult, overall_status
from grader.source import LearnerSource, SourceUnreadable

JUDGE_HEADROOM = 8 * 1024**3  # address space the judge may grow by while grading (references, data, replies)
RULE_TEST = "uses no forbidden built-in"
RECORD_WHAT = "the worker's record of what ran"
# pytest plugins the hidden tests do not use; unraisableexception alone cost two full gc.collect() per run
UNUSED_PLUGINS = ("cacheprovider", "timeout", "unraisableexception", "threadexception", "pastebin", "junitxml",
                  "doctest", "stepwise", "setuponly", "setupplan", "faulthandler", "warnings", "subtests", "legacypath",
                  "logging")


def host_for(request: GradeRequest) -> SandboxHost:
    """A sandbox suited to ``request`` (started, not yet ready)."""
    return SandboxHost(isolation=request.isolation, threads=request.threads,
                       devices=("cuda",) if request.device.startswith("cuda") else ()).start()


def limits_of(request: GradeRequest) -> Limits:
    budgets = request.budgets
    return Limits(memory_mb=budgets.memory_mb, cpu_s=int(budgets.run_timeout_s * request.threads + 60))


@contextlib.contextmanager
def judge_memory_ceiling():
    """A ceiling on the judge's own address space while it grades (a soft limit, restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError):
        size = 0
    ceiling = size + JUDGE_HEADROOM
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    changed = soft == resource.RLIM_INFINITY or ceiling < soft
    if changed:
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        if changed:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_milestone(request: GradeRequest, *, host: SandboxHost | None = None,
                  on_progress: Callable[[TestProgress], None] | None = None) -> RunResult:
    seed = request.seed if request.seed is not None else random.randrange(1, 2**31)
    folder = HIDDEN_DIR / request.folder
    result = RunResult(milestone=request.milestone_id, status="error", grader_version=grader.GRADER_VERSION,
                       hidden_tests_sha256=hidden_tests_sha256(folder), device=request.device, seed=seed,
                       started_at=time.time())
    started = time.perf_counter()
    try:
        source = request.source or LearnerSource.read(request.learner_file)
    except SourceUnreadable as error:
        result.message = str(error)
        return result
    result.learner_file_sha256 = source.sha256  # the bytes that are checked, loaded and recorded: one read
    own_host = host is None
    host = host or host_for(request)
    violations = _static_violations(source.text, list(request.policy.forbidden), list(request.policy.allowed_imports))
    deadline = hard_deadline_s(run_timeout_s=request.budgets.run_timeout_s,
                               call_timeout_s=request.budgets.call_timeout_s)
    try:
        with judge_memory_ceiling(), hard_deadline(host, deadline):
            _run_tests(request, source, host, seed, result, on_progress)
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise Interrupted(result) from None
    finally:
        markers = set(result.builtins_used) & MARKERS  # what the worker's record said about itself
        result.builtins_used = sorted(set(result.builtins_used) - MARKERS)
        result.sandbox = host.mode.to_dict() | {"limits": vars(limits_of(request))}
        result.duration_s = round(time.perf_counter() - started, 3)
        if own_host:
            host.close()
    loaded = not result.message  # a file that could not be loaded is an error, whatever the rule says
    violations += _record_violations(request, result, markers)
    _apply_rule(request, result, violations, show_pass=loaded)
    if loaded:
        result.status = overall_status(result.tests)
    return result


def _static_violations(source: str, forbidden: list[str], allowed_imports: Sequence[str] = ()) -> list[Violation]:
    try:
        return check_source(source, forbidden=forbidden, allowed_imports=allowed_imports)
    except (SyntaxError, ValueError):
        return []  # the worker's import reports the syntax error with its line


@contextlib.contextmanager
def judge_threads(count: int = 1):
    """The judge's reference computations are tiny: one thread, so that it does not spin against the worker."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_tests(request: GradeRequest, source: LearnerSource, host: SandboxHost, seed: int, result: RunResult,
               on_progress: Callable[[TestProgress], None] | None = None) -> None:
    import pytest  # after the sandbox has started: both import at once

    from grader.engine.plugin import ResultsPlugin, classify
    from grader.judge.errors import LearnerException, MissingSymbol, WorkerProblem
    from grader.judge.session import LearnerSession, SessionConfig

    forbidden = list(request.policy.forbidden)
    config = SessionConfig(source=source, tracked=list(request.policy.tracked),
                           limits=limits_of(request), call_timeout_s=request.budgets.call_timeout_s,
                           run_timeout_s=request.budgets.run_timeout_s, threads=request.threads,
                           operators=record_operators(forbidden))  # costs time: only where it decides
    session = LearnerSession(config, host=host, task=request.task, trained=request.trained)
    try:
        try:
            session.ensure_worker()
        except (LearnerException, MissingSymbol, WorkerProblem) as error:
            _, message, hint = classify(error)
            result.message = f"Your file could not be loaded. {message}" + (f"\nhint: {hint}" if hint else "")
            return
        plugin = ResultsPlugin(session, seed=seed, on_progress=on_progress)
        args = [str(HIDDEN_DIR / request.folder), "-c", str(HIDDEN_DIR / "pytest.ini"), "--rootdir", str(HIDDEN_DIR),
                "-q", "--import-mode=importlib", "--assert=plain",  # GradingFailure carries the messages; no rewriting
                *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}"))]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), judge_threads():
            exit_code = pytest.main(args, plugins=[plugin])
        if exit_code == pytest.ExitCode.INTERRUPTED:
            result.tests = plugin.results
            raise KeyboardInterrupt
        result.tests = plugin.results
        if exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            plugin.collection_errors.append(f"pytest exited with {exit_code!r}")
        if plugin.collection_errors:
            result.tests.append(TestResult(name="collecting the hidden tests", status="error", family="harness",
                                           message="Harness error: " + "\n".join(plugin.collection_errors),
                                           hint="This is a bug in the grader, not in your code."))
        result.metrics = session.metrics
        result.examples = session.examples
    finally:
        result.builtins_used = sorted(session.builtins_used)
        result.forbidden_used = sorted(session.builtins_used & set(forbidden))
        session.close()


def _record_violations(request: GradeRequest, result: RunResult, markers: set[str]) -> list[Violation]:
    """What the record says about itself: popped or disabled, or blind to a right answer (it can only add)."""
    forbidden = list(request.policy.forbidden)
    if not forbidden:
        return []
    if RECORD_OFF in markers:
        return [Violation(0, RECORD_WHAT, "was popped or disabled while your code ran")]
    numbers = [t for t in result.tests if t.family != "rule"]
    right = bool(numbers) and all(t.status == "pass" for t in numbers)
    if right and evidence_operators(forbidden) and EVIDENCE_SEEN not in markers:
        return [Violation(0, RECORD_WHAT, "saw none of the operations any implementation must run, "
                                                     "yet your answers were right: it was bypassed")]
    return []


def _apply_rule(request: GradeRequest, result: RunResult, violations: list[Violation], *, show_pass: bool) -> None:
    """The rule's own result, first: from the source (evidence the judge controls) and the worker's record (a claim)."""
    forbidden = set(request.policy.forbidden)
    if not forbidden:
        return
    used = sorted(set(result.forbidden_used) | {v.builtin for v in violations if v.builtin})
    result.forbidden_used = used
    record_off = [v for v in violations if v.what == RECORD_WHAT]
    violations = [v for v in violations if v.what != RECORD_WHAT]
    if not violations and not used and not record_off:
        if show_pass:
            result.tests.insert(0, TestResult(name=RULE_TEST, status="pass", family="rule"))
        return
    why = request.policy.why or "this milestone asks you to write it yourself"
    if used:
        lines = [f"Your code uses {', '.join(used)}, which is not allowed here: {why}."]
        hint = ("Write it from tensor operations. A built-in becomes allowed in later milestones once the milestone "
                "that replaces it has passed. The other tests still check your numbers.")
    elif violations:
        lines = ["While built-ins are forbidden here, a milestone file must stay inside plain Python in which every "
                 "call is spelled out, so that what it calls can be read:"]
        hint = ("Call torch by plain names (torch.*, F.*, nn.*), keep sub-layers in nn.ModuleList or dicts, and import "
                "only torch, math, typing and dataclasses. The other tests still check your numbers.")
    else:
        lines = [f"{RECORD_OFF[0].upper()}{RECORD_OFF[1:]}: {record_off[0].what} {record_off[0].reason}, so "
                 "nothing shows that your code did not use a forbidden built-in."]
        hint = ("Do not push, pop or disable torch function or dispatch modes in a milestone file. The other tests "
                "still check your numbers.")
    lines += [f"  {v.describe()}" for v in violations[:8]]
    if len(violations) > 8:
        lines.append(f"  ... and {len(violations) - 8} more")
    if set(result.forbidden_used) - {v.builtin for v in violations}:
        lines.append("  (seen at run time by the worker's record of what your code called)")
    lines += [f"  {RECORD_OFF}: {v.what} {v.reason}" for v in record_off if violations or used]
    result.tests.insert(0, TestResult(name=RULE_TEST, status="fail", family="rule", message="\n".join(lines),
                                      hint=hint))
