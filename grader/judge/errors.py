"""What can go wrong when the judge asks the learner's code for something.

Hidden tests and the engine share this vocabulary: a failed response from the
worker becomes one of these exceptions, and the results plugin turns each
kind into a status, a message and a hint.
"""

from __future__ import annotations

from typing import Any

from grader.errors import GraderError
from grader.messages import Response


# What a learner reads when their code stopped or killed the process the judge relies on (the host and the run say it).
STOPPED_BY_LEARNER = ("your code stopped or killed the test process (signal to its parent): the sandbox stopped "
                      "answering while your code ran, and was torn down")

class WorkerProblem(GraderError):
    """Base for every way a request into learner code can go wrong."""

    status = "error"


class LearnerException(WorkerProblem):
    def __init__(self, message: str, traceback: str = "", type_name: str = "", site_claim: Any = None):
        super().__init__(message)
        self.message, self.traceback, self.type_name = message, traceback, type_name
        self.site_claim = site_claim  # the worker's description of the line (unchecked: grader.judge.crash_site)
        self.site = None  # a checked grader.judge.crash_site.CrashSite, set by the session that sent the call
        self.call = ""  # what the test sent, in shapes ("attention with q (2, 4, 8) float32, ...")
        self.file_name = ""


class MissingSymbol(WorkerProblem):
    def __init__(self, name: str):
        super().__init__(f"{name} is not defined in your file")
        self.name = name


class WorkerTimeout(WorkerProblem):
    def __init__(self, seconds: float, what: str):
        super().__init__(f"{what} did not finish within {seconds:g} s (an infinite loop, or far too slow?)")
        self.seconds, self.what = seconds, what


class WorkerCrashed(WorkerProblem):
    def __init__(self, reason: str):
        super().__init__(f"your code crashed the worker process: {reason}")
        self.reason = reason


def problem_of(response: Response) -> WorkerProblem:
    """The exception a failed response stands for."""
    error = response.error
    if error is None:
        return LearnerException("unknown error")
    if error.kind == "missing":
        return MissingSymbol(error.message or "?")
    return LearnerException(error.message or "unknown error", error.traceback, error.type, error.site)


def value_of(response: Response) -> Any:
    """The value of a successful response; raises what a failed one stands for."""
    if response.ok:
        return response.value
    raise problem_of(response)


def handle_of(value: Any):
    from grader.protocol import Handle  # torch-free import of this module: the sandbox starts before torch loads

    if not isinstance(value, Handle):
        raise LearnerException(f"expected an nn.Module, got {type(value).__name__}")
    return value
