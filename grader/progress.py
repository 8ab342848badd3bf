"""Where a run of hidden tests is, for a live display (``grader.api.grade(..., on_progress=...)``).

Torch-free: the CLI imports it before the engine loads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestProgress:
    """Sent as each hidden test starts: ``done`` of ``total`` have finished, ``current`` is running now."""

    __test__ = False  # not a pytest test class, whatever its name

    done: int
    total: int
    current: str  # the test's readable name, as in the results

    @property
    def left(self) -> int:
        """Tests still to come after the current one."""
        return max(0, self.total - self.done - 1)
