"""Known failure shapes of a trained model, probed when it fails its statistics, before the numbers.

Each probe measures one shape on the learner's model and, when it shows, says what it saw:

- ``copies_input``: the model predicts the token it is given, not the one it should predict (a GPT trained on
  targets that were not shifted; a BERT trained to reproduce its corrupted input);
- ``ignores_input``: its logits do not change when every regular token is replaced (a constant prediction);
- ``reads_padding``: its logits at real tokens change when more padding follows;
- ``ignores_labels``: the classifier's training loss fell, yet it agrees with the training labels no better
  than the majority class (the loss was computed against something else).

A probe only reports what it measured; nothing here passes or fails a test by itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COPY_MARGIN = 1.0  # nats: the loss on the given token must beat the loss on the target by this much
SAME = 1e-6  # logits that move less than this when every token changes do not depend on the tokens


@dataclass(frozen=True)
class Finding:
    """What a probe showed (``message``, leads the failure) and what to look at (``hint``)."""

    shape: str
    message: str
    hint: str


def copies_input(*, current: float, target: float, lm: str) -> Finding | None:
    """``current``: mean loss against the token at the same position (the input); ``target``: against the target."""
    if not (math.isfinite(current) and current + COPY_MARGIN < target):
        return None
    if lm == "causal":
        return Finding("copies_input", f"Your model predicts the token at the same position, not the next one: its "
                       f"loss on the current token is {current:.1f} nats, on the next {target:.1f}.",
                       "Were the targets shifted by one? logits[:, t] must predict ids[:, t + 1]: inputs "
                       "w[:, :-1], targets w[:, 1:].")
    return Finding("copies_input", f"At the masked positions your model predicts the token it was given ([MASK] "
                   f"itself, or the random replacement), not the hidden one: its loss on the given token is "
                   f"{current:.1f} nats, on the original {target:.1f}.",
                   "The labels must be the original ids at the picked positions (-100 elsewhere), not the "
                   "corrupted inputs.")


def _replace_regular(ids: torch.Tensor, keep: torch.Tensor, vocab_size: int, special: list[int]) -> torch.Tensor:
    """``ids`` with every position not in ``keep`` replaced by a different regular token."""
    regular = torch.tensor([i for i in range(vocab_size) if i not in set(special)])
    generator = torch.Generator().manual_seed(5)
    shift = torch.randint(1, max(len(regular), 2), ids.shape, generator=generator)
    position = torch.searchsorted(regular, ids.clamp(max=int(regular.max())))
    replaced = regular[(position + shift) % len(regular)]
    return torch.where(keep, ids, replaced)


def ignores_input(logits_of, ids: torch.Tensor, *, keep: torch.Tensor, vocab_size: int,
                  special: list[int]) -> Finding | None:
    """``logits_of(ids) -> tensor``; ``keep``: the positions left as they are (padding, specials)."""
    other = _replace_regular(ids, keep, vocab_size, special)
    if torch.equal(other, ids):
        return None
    diff = float((logits_of(ids) - logits_of(other)).abs().max())
    if diff >= SAME:
        return None
    change = "does not change them at all" if diff == 0 else f"changes them by at most {diff:.1g}"
    return Finding("ignores_input", f"Your model's logits do not depend on the words: replacing every word of "
                   f"{len(ids)} test examples by another (same lengths, same padding) {change}.",
                   "Are the token embeddings added (not positions alone)? Does forward use its ids argument, "
                   "and reach the head through the blocks?")


def reads_padding(diff: float) -> Finding | None:
    if diff <= 1e-4:
        return None
    return Finding("reads_padding", f"Your model's logits change when more padding follows the same examples "
                   f"(max abs diff {diff:.3g}): padding reaches the real tokens.",
                   "Nobody may attend to padding: pass padding_mask to every attention layer (mask padded keys "
                   "before the softmax) and pool over real tokens only.")


def ignores_labels(*, train_accuracy: float, majority: float, final_loss: float | None,
                   n_classes: int) -> Finding | None:
    """The training loss says the model fit something; the training labels say it did not fit them."""
    if final_loss is None or not math.isfinite(final_loss):
        return None
    chance_loss = math.log(n_classes)
    if final_loss > 0.6 * chance_loss or train_accuracy > majority + 0.05:
        return None
    return Finding("ignores_labels", f"Your training log ends at a loss of {final_loss:.2f} (chance is "
                   f"{chance_loss:.2f}), yet the trained model agrees with the training labels only "
                   f"{train_accuracy:.1%} of the time (majority class {majority:.1%}): the loss fell on something "
                   "other than these labels.", "Is the loss computed between the logits and this batch's labels "
                   "(not the ids, a constant, or labels from another batch)?")


def final_loss(training_log) -> float | None:
    """The mean of the last few logged losses (a training log is a list of dicts with ``loss``)."""
    losses = [float(e["loss"]) for e in (training_log or []) if isinstance(e, dict)
              and isinstance(e.get("loss"), (int, float))]
    return sum(losses[-5:]) / len(losses[-5:]) if losses else None


def first(*probes) -> Finding | None:
    """The first finding of ``probes`` (callables, run in order until one finds something). A probe the learner's
    model cannot answer (a crash, NaN logits) finds nothing: the failure it would explain is reported as it is."""
    from grader.judge.compare import GradingFailure
    from grader.judge.errors import WorkerProblem

    for probe in probes:
        try:
            found = probe()
        except (WorkerProblem, GradingFailure):
            found = None
        if found is not None:
            return found
    return None

