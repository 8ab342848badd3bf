"""The hard deadline of one grading run: past it, the judge tears the whole sandbox down.

Every wait of the judge is bounded on its own (a call, a control answer, a kill), and the session refuses new
calls once the run's time limit has passed; this is the backstop behind them, for whatever way learner code
finds to stop the grader that those bounds did not foresee. When it fires, ``SandboxHost.lose`` kills the
sandbox (process group, PID namespace, pids cgroup) without asking the forker anything; every pipe of the run
closes, so each wait of the judge returns at once with the learner-facing verdict, and every later test fails
fast with it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from grader.engine.host import CONTROL_TIMEOUT_S, STOPPED_BY_LEARNER, SandboxHost

GRACE_S = 2 * CONTROL_TIMEOUT_S + 30  # a last call's own timeout, a kill, a teardown
PASSED = STOPPED_BY_LEARNER + " (the run's hard deadline passed)"


def hard_deadline_s(*, run_timeout_s: float, call_timeout_s: float) -> float:
    return run_timeout_s + call_timeout_s + GRACE_S


@contextlib.contextmanager
def hard_deadline(host: SandboxHost, seconds: float) -> Iterator[None]:
    timer = threading.Timer(seconds, host.lose, args=(PASSED,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
