"""What can go wrong with a bundle, as user errors with a named check.

Both are ``ChallengeError`` subclasses, so ``challenge.errors.render_error``
already turns them into a message, a hint and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass

from challenge.errors import ChallengeError


@dataclass(frozen=True)
class Problem:
    """One failed integrity check: which check, on which file, and why."""

    check: str  # archive | manifest | listing | hash | event log | consistency
    file: str  # path inside the bundle ("" for the bundle as a whole)
    reason: str

    def describe(self) -> str:
        where = f" {self.file}:" if self.file else ""
        return f"{self.check} check failed:{where} {self.reason}"

    def to_dict(self) -> dict:
        return {"check": self.check, "file": self.file, "reason": self.reason}


class BundleInvalid(ChallengeError):
    """The bundle is unsafe to open, malformed or tampered with (exit 2)."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        first = self.problems[0].describe() if self.problems else "unknown problem"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"The bundle is invalid or tampered: {first}{more}",
                         "Ask the learner for a fresh bundle made with `challenge submit`; nothing in it was run.")


class IsolationUnavailable(ChallengeError):
    """This machine cannot sandbox foreign code (exit 3): nothing was run."""

    exit_code = 3

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(
            f"Refusing to run the learner's code: this machine cannot isolate it ({reason}).",
            "Verify on Linux with unprivileged user namespaces and Landlock (kernel >= 5.13), or accept the risk "
            "explicitly with --allow-unisolated (the code then runs with your network and files reachable).")
