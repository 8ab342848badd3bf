"""What every analysis of ``clues`` shares: a finding (:class:`Clue`), how its numbers are printed, when two
outputs differ. Its own module, so that ``clues`` can import the analyses and they this, without a circle."""

from __future__ import annotations

from dataclasses import dataclass

import torch

SEED = 20240623
AFTER_WEIGHTS = "after the attention weights"
WEIGHT_FAULTS = (AFTER_WEIGHTS, "the softmax", "the attention weights")  # places ``clues_weights`` names
ATOL = 1e-7  # float64 outputs of a correct solution agree with PyTorch's to ~1e-12


@dataclass(frozen=True)
class Clue:
    """One finding of an analysis."""

    where: str  # the component: "out_proj.bias", "the attention weights", "LayerNorm", ...
    summary: str  # one line, what the learner reads first
    evidence: str = ""  # the numbers
    rank: int = 1  # 0: a specific cause; 1: a place; 2: a weak lead. Lower comes first.
    contradicts: frozenset[str] = frozenset()  # catalogue ids this finding rules out (a fitted constant it beats)
    part: str = ""  # the probes' part (engine.Probe.part) this finding is about: shown before a part it explains


def number(value: float) -> str:
    if value != value:
        return "NaN"
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"
    return f"{value:.2g}"


def differs(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> bool:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return True
    return not bool(torch.isclose(a.double(), b.double(), atol=atol, rtol=1e-6, equal_nan=True).all())


def leads(clue: Clue, wrong_parts: set[str]) -> bool:
    """Whether ``clue`` is said before the probes' localisation to ``wrong_parts`` (the parts of the unit whose
    own probes fail): a specific cause (rank 0) always; a place (rank 1) where the parts cannot tell one apart
    (none fails alone, or several do: a LayerNorm or a residual that feeds every later part makes them all fail)
    or where it is about the one part that fails."""
    wrong_parts = wrong_parts - {""}
    return clue.rank == 0 or not wrong_parts or (clue.rank == 1 and (len(wrong_parts) > 1 or clue.part in wrong_parts))
