"""How a finding is said: the probes that pass and fail (evidence), and the parts of a unit they put the fault in
(localisation). Plain text from probe labels; no probe runs here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Probe(Protocol):
    """What is said of an ``engine.Probe``: its label, its group of related probes, the part it exercises alone."""

    @property
    def label(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def part(self) -> str: ...


def _join(labels: Sequence[str], limit: int) -> str:
    shown = list(dict.fromkeys(labels))[:limit]
    more = len(dict.fromkeys(labels)) - len(shown)
    text = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1] if shown else ""
    return text + (f" (and {more} more)" if more > 0 else "")


def evidence(passing: Sequence[Probe], failing: Sequence[Probe]) -> str:
    """'passes with every bias zero and only the q bias non-zero; fails with only out_proj.bias non-zero'.

    Probes of a group where some pass and some fail say the most, so they come first."""
    failing_groups, passing_groups = {p.group for p in failing}, {p.group for p in passing}
    mixed = failing_groups & passing_groups
    near = [p.label for p in passing if p.group in mixed] or [p.label for p in passing if p.group in failing_groups]
    near = near or [p.label for p in passing]
    wrong = [p.label for p in failing if p.group in mixed] + [p.label for p in failing if p.group not in mixed]
    parts = ([f"passes with {_join(near, 4)}"] if near else []) + [f"fails with {_join(wrong, 4)}"]
    return "; ".join(parts)


def localise(passing: Sequence[Probe], failing: Sequence[Probe]) -> str:
    """Where the fault is, from the probes that exercise one part alone."""
    right = [p.part for p in passing if p.part and p.part not in {f.part for f in failing}]
    wrong = [p.part for p in failing if p.part]
    if wrong:
        said = [f"{_join(right, 3)} {'is' if len(set(right)) == 1 else 'are'} right"] if right else []
        return "; ".join(said + [f"{_join(wrong, 3)} differ{'s' if len(set(wrong)) == 1 else ''}"])
    return evidence(passing, failing)
