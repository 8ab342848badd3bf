"""The one table from exceptions to user messages.

Every failure a user can cause ends up here: ``render_error`` turns it into a
message and a hint (the next thing to try). ``CHALLENGE_DEBUG=1`` shows the
traceback instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


FETCH_COMMAND = "challenge data fetch"
IMPORT_COMMAND = "challenge data import DIR"
# The hint of every "no data" error (here, with the table, so that the data modules and this one import one way).
FIX_HINT = (f"Fix: {FETCH_COMMAND}  (downloads them once; needs the internet). Offline: {IMPORT_COMMAND} "
            "with a copy in the original formats. `challenge data status` shows what is where.")


class ChallengeError(Exception):
    """A user-facing error with a hint saying what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ChallengeError):
    """The command was misused (bad argument, wrong order of steps)."""

    exit_code = 2


class WorkspaceNotFound(UsageError):
    pass


class WorkspaceExists(UsageError):
    pass


class MilestoneNotStarted(UsageError):
    pass


class LogCorrupted(ChallengeError):
    """The event log's hash chain is broken (edited or deleted lines)."""


class LogLoss(ChallengeError):
    """Events are missing from the end of the log, or the log was deleted (see ``challenge.record.eventlog``)."""


@dataclass(frozen=True)
class UserMessage:
    message: str
    hint: str
    exit_code: int


def _unknown_milestone(error) -> UserMessage:
    if error.suggestions:
        hint = "Did you mean " + " or ".join(f"'{s}'" for s in error.suggestions) + "?"
    else:
        hint = "Known milestones: " + ", ".join(error.known) + " (see `challenge list`)."
    return UserMessage(f"No milestone called '{error.name}'.", hint, 2)


def _milestone_format(error) -> UserMessage:
    if error.newer:
        return UserMessage(
            f"{error.path} was written for a newer version of the harness.",
            "Upgrade: pip install --upgrade challenge (or git pull in your clone).",
            1,
        )
    problems = "\n".join(f"  - {p}" for p in error.problems)
    return UserMessage(f"Milestone file {error.path} is invalid:\n{problems}", "Fix the field(s) named above.", 1)


def _stale_mutant(error) -> UserMessage:
    problems = "\n".join(f"  - {p}" for p in error.problems)
    return UserMessage(f"Mutant '{error.name}' no longer applies to its milestone's reference.py:\n{problems}",
                       "Update its edits in the milestone's mutants.yaml; `challenge dev check` lists every stale one.",
                       1)


def _lock_timeout(error) -> UserMessage:
    return UserMessage(
        f"Another challenge command holds the workspace lock ({error}).",
        "Wait for it to finish; if none is running, delete the .lock file next to events.jsonl.",
        1,
    )


def _permission(error) -> UserMessage:
    return UserMessage(f"Permission denied: {error.filename or error}",
                       "Check that the workspace folder is yours and writable.", 1)


def _data_unavailable(error) -> UserMessage:
    return UserMessage(f"The training data is not available: {error}", FIX_HINT, 1)


def _interrupted(error) -> UserMessage:
    result = error.result
    done = f" after {len(result.tests)} test(s)" if result.tests else ""
    return UserMessage(f"Interrupted{done}: the attempt is logged as interrupted, not as a failure.",
                       "Run the command again when you are ready.", 130)


def _isolation_unavailable(error) -> UserMessage:
    return UserMessage(f"The sandbox cannot start here: {error}",
                       "Linux with unprivileged user namespaces runs bubblewrap; see README, 'How grading decides'.", 3)


def _table() -> list[tuple[type[BaseException] | str, Callable[[BaseException], UserMessage]]]:
    # Imported here so that building the table costs nothing at start-up.
    from filelock import Timeout

    from milestones.mutants import StaleMutant
    from milestones.registry import UnknownMilestone
    from milestones.schema import MilestoneFormatError

    return [
        (ChallengeError, lambda e: UserMessage(e.message, e.hint, e.exit_code)),
        (UnknownMilestone, _unknown_milestone),
        (MilestoneFormatError, _milestone_format),
        (StaleMutant, _stale_mutant),
        (Timeout, _lock_timeout),
        (PermissionError, _permission),
        # named, not imported: the data pipeline imports torch
        ("milestones.tasks.sources.DataUnavailable", _data_unavailable),
        ("grader.requests.Interrupted", _interrupted),
        ("grader.requests.IsolationUnavailable", _isolation_unavailable),
    ]


def render_error(error: BaseException) -> UserMessage | None:
    """The user message for a known error, or None for a bug (show the traceback)."""
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__}
    for kind, render in _table():
        if (kind in names) if isinstance(kind, str) else isinstance(error, kind):
            return render(error)
    return None
