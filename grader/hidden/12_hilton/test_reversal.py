"""Hidden tests for bonus milestone 12, the reversal task: does the mask hold?

A row is ``x_1 .. x_n SEP x_n .. x_1`` (``milestones/tasks/reversal.py``): the
symbols are drawn uniformly and independently. The model reads ``row[:-1]``
(2n tokens) and ``logits[:, t]`` predicts ``row[t + 1]``:

    t = 0 .. n-2     predicts x_2 .. x_n   first half: independent of everything before it
    t = n-1          predicts SEP          its place is fixed (shown, not judged)
    t = n .. 2n-1    predicts x_n .. x_1   second half: copies of tokens already read

The judge scores the trained checkpoint on the task's test sequences (never
trained on, none of them in the training split; only ``row[:-1]`` reaches the
learner's code) and decides:

- first half, every position at chance: a causal model that predicts a symbol is
  right with probability exactly 1/n_symbols, whatever it learned, so its hit
  count at one position is Binomial(N, 1/n_symbols). Each position's count must
  lie in the two-sided exact binomial acceptance region at level
  ALPHA / (n - 1) (Bonferroni over the positions: a correct model fails this
  test with probability at most ALPHA overall). A model that sees the future
  copies the answer and is far above it;
- second half, every position >= SECOND_HALF_FLOOR.
"""

import torch

from grader.judge.compare import GradingFailure
from grader.judge.positions import band, chance_band, curve_metric
from grader.judge.trained import task_of, token_logits, trained_model
from grader.judge.run_cache import StashKey

ALPHA = 1e-3  # family-wise, over the first-half positions
SECOND_HALF_FLOOR = 0.95
COPY_SHARE = 0.9  # predicting the token just read this often: the targets were not shifted
FLAT_LOSS = 0.05  # nats: a training log whose loss fell less than this never trained
SHIFT_HINT = "Targets are the rows shifted by one: inputs rows[:, :-1], targets rows[:, 1:]."
MASK_HINT = ("Position t may attend to positions 0..t only: torch.tril(torch.ones(T, T, dtype=torch.bool)), "
             "diagonal included, passed to every block, with scores.masked_fill(~mask, float('-inf')).")


def _layout(spec: dict) -> tuple[list[int], int, list[int]]:
    """(first-half positions, SEP's position, second-half positions) of the 2n predictions."""
    n = spec["half_len"]
    return list(range(n - 1)), n - 1, list(range(n, 2 * n))

REVERSAL: StashKey[dict] = StashKey("reversal")  # the scores of one run, computed once


def _label(t: int, n: int) -> str:
    return f"x{t + 2}" if t < n - 1 else "SEP" if t == n - 1 else f"x{2 * n - t}"


def _scored(learner) -> dict:
    """Predictions on every test row, hits per position and the chance band, computed once per run."""
    cache = learner.run_cache
    if REVERSAL not in cache:
        task = task_of(learner)
        spec, rows = task.spec, task.inputs["test"].long()
        inputs, targets = rows[:, :-1], rows[:, 1:]
        logits = token_logits(trained_model(learner), inputs, spec["vocab_size"], batch=512)
        predicted = logits.argmax(-1)  # (N, 2n)
        first, sep, second = _layout(spec)
        band_ = chance_band(len(rows), 1 / spec["n_symbols"], ALPHA / len(first))
        scored = {"rows": rows, "predicted": predicted, "hits": (predicted == targets).sum(0).tolist(),
                  "accuracy": (predicted == targets).double().mean(0).tolist(), "band": band_,
                  "copies": float((predicted == inputs).double().mean()), "first": first, "sep": sep,
                  "second": second}
        cache[REVERSAL] = scored
        _record(learner, scored)
    return cache[REVERSAL]


def _record(learner, s: dict) -> None:
    spec = task_of(learner).spec
    n, trials, band_ = spec["half_len"], len(s["rows"]), s["band"]
    labels = [_label(t, n) for t in range(2 * n)]
    learner.metrics["accuracy per position (judge)"] = curve_metric(
        title=f"Reversal: accuracy per position on {trials:,} fresh sequences", labels=labels,
        values=s["accuracy"], x_label="position (the token predicted)", bands=[
            band(0, len(s["first"]), band_.low_rate, band_.high_rate,
                 f"first half: chance {1 / spec['n_symbols']:.2%}, binomial band (alpha {ALPHA:g})"),
            band(s["second"][0], s["second"][-1] + 1, SECOND_HALF_FLOOR, 1.0,
                 f"second half: >= {SECOND_HALF_FLOOR:.0%}")])
    learner.metrics["first-half rule"] = (
        f"each of {len(s['first'])} positions right {band_.low}-{band_.high} times of {trials:,} "
        f"({band_.low_rate:.1%}-{band_.high_rate:.1%}; chance {1 / spec['n_symbols']:.2%}): two-sided exact "
        f"binomial test at alpha {ALPHA:g} / {len(s['first'])} per position")
    learner.metrics["second-half rule"] = f"each of {len(s['second'])} positions right >= {SECOND_HALF_FLOOR:.0%}"
    names = task_of(learner).label_names
    for i in torch.linspace(0, trials - 1, min(4, trials)).long().tolist():
        row, guess = s["rows"][i].tolist(), s["predicted"][i].tolist()
        learner.examples.append({"sequence": "".join(names[t] for t in row),
                                 "predicted": " " + "".join(names[t] if 0 <= t < len(names) else "?" for t in guess)})


def _loss_trend(learner) -> tuple[float, float, int] | None:
    """(first logged loss, last logged loss, last step) from the training log, a claim; None without two."""
    records = [r for r in (learner.trained.training_log if learner.trained else ())
               if isinstance(r, dict) and isinstance(r.get("loss"), (int, float)) and isinstance(r.get("step"), int)]
    if len(records) < 2:
        return None
    records.sort(key=lambda r: r["step"])
    return float(records[0]["loss"]), float(records[-1]["loss"]), int(records[-1]["step"])


def test_checkpoint_loads_into_your_model(learner):
    """your checkpoint loads into build_model(spec), every weight accounted for"""
    trained_model(learner)


def test_first_half_is_at_chance(learner):
    """every first-half position is at chance: no causal model can predict x_2..x_n (it sees no future)"""
    s = _scored(learner)
    band_, trials, n = s["band"], len(s["rows"]), task_of(learner).spec["half_len"]
    above = [t for t in s["first"] if s["hits"][t] > band_.high]
    below = [t for t in s["first"] if s["hits"][t] < band_.low]
    where = f"(chance band {band_.low_rate:.1%}-{band_.high_rate:.1%} on {trials:,} fresh sequences)"
    if above:
        listed = ", ".join(f"position {t} ({_label(t, n)}) {s['accuracy'][t]:.1%}" for t in above[:4])
        raise GradingFailure(
            f"Your model sees the future: {listed} {where}. Each first-half symbol is drawn independently of "
            "everything before it, so only a model that reads later tokens can predict it.",
            MASK_HINT + " An off-by-one (diagonal=1) or a missing mask lets position t read t + 1.")
    if below:
        listed = ", ".join(f"position {t} ({_label(t, n)}) {s['accuracy'][t]:.1%}" for t in below[:4])
        raise GradingFailure(
            f"Below chance in the first half: {listed} {where}. A model that always predicts a symbol is right "
            f"1 time in {task_of(learner).spec['n_symbols']} there; yours predicts something else (SEP?).",
            "Train on every position (the loss over all of rows[:, 1:]): the first half then learns that a "
            "symbol comes next, even if it cannot know which.")


def test_second_half_is_reversed(learner):
    """every second-half position reaches 95%: the model reverses what it has read"""
    s = _scored(learner)
    spec = task_of(learner).spec
    n, chance = spec["half_len"], 1 / spec["n_symbols"]
    weak = [t for t in s["second"] if s["accuracy"][t] < SECOND_HALF_FLOOR]
    if not weak:
        return
    lowest = min(weak, key=lambda t: s["accuracy"][t])
    worst = f"position {lowest} ({_label(lowest, n)}) {s['accuracy'][lowest]:.1%}"
    if s["copies"] >= COPY_SHARE:
        raise GradingFailure(
            f"Your model predicts the token it reads at {s['copies']:.0%} of positions, not the next one: the "
            f"targets are not shifted. Second half: {len(weak)} of {len(s['second'])} positions under "
            f"{SECOND_HALF_FLOOR:.0%} (lowest {worst}).", SHIFT_HINT)
    if max(s["accuracy"][t] for t in s["second"]) < 2 * chance:
        trend = _loss_trend(learner)
        if trend is not None and trend[0] - trend[1] < FLAT_LOSS:
            raise GradingFailure(
                f"Every second-half position is at chance (best {max(s['accuracy'][t] for t in s['second']):.1%}, "
                f"needs {SECOND_HALF_FLOOR:.0%}), and the loss in your training log did not fall "
                f"({trend[0]:.3f} at the first record, {trend[1]:.3f} at step {trend[2]}): the weights were never "
                "updated.",
                "optimizer.zero_grad(), loss.backward(), optimizer.step(), in this order, with an optimizer "
                "built over this model's parameters (zero_grad between backward and step throws the gradients "
                "away).")
        raise GradingFailure(
            f"Every second-half position is at chance (best {max(s['accuracy'][t] for t in s['second']):.1%}, "
            f"needs {SECOND_HALF_FLOOR:.0%}): your model did not learn to reverse.",
            "Is the loss computed on rows[:, 1:] with logits of rows[:, :-1], and does it fall in your training "
            "log? Then train longer (--budget-s) or raise the learning rate (1e-3 with AdamW works).")
    raise GradingFailure(
        f"{len(weak)} of {len(s['second'])} second-half positions are under {SECOND_HALF_FLOOR:.0%} (lowest: "
        f"{worst}): your model reverses part of the sequence only.",
        "Train longer (--budget-s); the reference gets every position right after ~50 steps of 32 sequences. "
        "Each second-half position t must attend to position 2n - 1 - t, which learned positions make easy.")
