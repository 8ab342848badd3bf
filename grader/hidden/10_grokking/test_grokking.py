"""Hidden tests for bonus milestone 10: grokking modular addition.

Two kinds of evidence, kept apart:

- the final checkpoint, measured by the judge: accuracy on the test pairs (their
  labels never leave the judge) and on the training and validation pairs, and
  whether the answer depends on both operands;
- the training log (``task.log`` records), written by the learner's own code: a
  claim. The judge checks its shape (memorised clearly before it generalised)
  and cross-checks its last values against what it measures on the checkpoint,
  but it cannot re-run the history. Results say so.

"Clearly before" (also in the README): with S_mem the first logged step with
train_acc >= 99% and S_gen the first logged step with val_acc >= 95%,
S_gen >= DELAY_FACTOR * S_mem and S_gen - S_mem >= MIN_DELAY_STEPS.
"""

import torch

from grader.judge.compare import GradingFailure
from grader.judge.trained import check_logits, task_of, trained_model
from grader.judge.run_cache import StashKey

TEST_FLOOR = 0.95  # final test accuracy, measured by the judge
MEMORISED, GENERALISED = 0.99, 0.95  # train_acc and val_acc thresholds in the log
DELAY_FACTOR = 2.0  # S_gen at least twice S_mem ...
MIN_DELAY_STEPS = 200  # ... and at least this many steps later (the reference: 140 -> 840)
MIN_RECORDS = 10  # a curve needs points
LOG_TOLERANCE = 0.05  # last logged accuracies vs the judge's measurement on the same pairs
CLAIM = "from your training log, written by your code (a claim the judge cannot replay)"

PREDICTIONS: StashKey[dict[str, torch.Tensor]] = StashKey("predictions")  # split -> argmax, once per run
MEASURED: StashKey[dict[str, float]] = StashKey("measured")  # split -> accuracy


def _predict(learner, split: str) -> torch.Tensor:
    """(N,) argmax predictions of the trained model on one split, cached per run."""
    cache = learner.run_cache.setdefault(PREDICTIONS, {})
    if split not in cache:
        task = task_of(learner)
        ids, p = task.inputs[split].long(), task.spec["p"]
        model = trained_model(learner)
        logits = torch.cat([check_logits(model.infer(ids[i:i + 1024]), (len(ids[i:i + 1024]), p), "model(ids)")
                            for i in range(0, len(ids), 1024)])
        cache[split] = logits.argmax(-1)
    return cache[split]


def _accuracy(learner, split: str) -> float:
    labels = task_of(learner).labels[split]
    return float((_predict(learner, split) == labels).float().mean())


def _measured(learner) -> dict[str, float]:
    """Judge-measured accuracies of the final checkpoint, recorded once in the results."""
    cache = learner.run_cache.setdefault(MEASURED, {})
    if not cache:
        cache.update({split: _accuracy(learner, split) for split in ("train", "validation", "test")})
        learner.metrics.update({
            "test accuracy (judge, held-out pairs)": round(cache["test"], 4),
            "train accuracy (judge)": round(cache["train"], 4),
            "validation accuracy (judge)": round(cache["validation"], 4),
            "test pairs": len(task_of(learner).labels["test"]),
        })
        _record_examples(learner)
    return cache


def _record_examples(learner) -> None:
    task = task_of(learner)
    ids, labels, predicted = task.inputs["test"], task.labels["test"], _predict(learner, "test")
    for i in torch.linspace(0, len(ids) - 1, min(5, len(ids))).long().tolist():  # spread over the sorted pairs
        x, y = int(ids[i, 0]), int(ids[i, 1])
        learner.examples.append({"input": f"{x} + {y} mod {task.spec['p']}", "answer": int(labels[i]),
                                 "predicted": int(predicted[i])})


def _log(learner) -> list[dict]:
    """The training log's records that carry a step, sorted by step."""
    records = [r for r in (learner.trained.training_log if learner.trained else []) if isinstance(r, dict)]
    return sorted((r for r in records if isinstance(r.get("step"), (int, float))), key=lambda r: r["step"])


def _first_step(records: list[dict], metric: str, threshold: float):
    return next((int(r["step"]) for r in records if isinstance(r.get(metric), (int, float)) and r[metric] >= threshold),
                None)


def _last(records: list[dict], metric: str):
    return next((float(r[metric]) for r in reversed(records) if isinstance(r.get(metric), (int, float))), None)


# -- the checkpoint ------------------------------------------------------------------------------


def test_checkpoint_loads_into_your_model(learner):
    """your checkpoint loads into build_model(spec), every weight accounted for"""
    trained_model(learner)


def test_the_answer_depends_on_both_operands(learner):
    """changing x or changing y changes the logits (the answer is read where both are visible)"""
    task = task_of(learner)
    p = task.spec["p"]
    ids = task.inputs["test"][:256].long()
    model = trained_model(learner)
    base = check_logits(model.infer(ids), (len(ids), p), "model(ids)")
    for column, name in ((0, "x"), (1, "y")):
        changed = ids.clone()
        changed[:, column] = (changed[:, column] + 1 + torch.arange(len(ids)) % (p - 1)) % p  # a different number
        moved = check_logits(model.infer(changed), (len(ids), p), "model(ids)")
        if float((moved - base).abs().max()) < 1e-6:
            raise GradingFailure(
                f"Changing {name} in [x, y, =] never changes your logits (256 test pairs): the answer cannot "
                f"depend on {name}.",
                "Read the logits at the last position ('='), where attention has seen x and y; with a causal mask "
                "the first positions cannot see what follows them.")


def test_test_accuracy_reaches_95_percent(learner):
    """the final checkpoint answers >= 95% of the held-out test pairs (measured by the judge)"""
    measured = _measured(learner)
    test, train = measured["test"], measured["train"]
    n = len(task_of(learner).labels["test"])
    if test >= TEST_FLOOR:
        return
    if train >= MEMORISED:
        raise GradingFailure(
            f"Test accuracy {test:.1%} of {n} held-out pairs (needs {TEST_FLOOR:.0%}), while the training pairs are "
            f"at {train:.1%}: memorised without generalising (yet).",
            "Grokking needs strong weight decay (AdamW, weight_decay=1.0) and hundreds to thousands of full-batch "
            "steps after memorising: "
            "check the optimizer, compute the loss in float64, and train longer (--budget-s).")
    raise GradingFailure(
        f"Test accuracy {test:.1%} of {n} held-out pairs (needs {TEST_FLOOR:.0%}); the model does not even fit the "
        f"training pairs ({train:.1%}).",
        "Check that the loss uses task labels with logits read at '=', that the optimizer steps this model's "
        "parameters, and the learning rate (1e-3 works).")


# -- the training log ------------------------------------------------------------------------------


def test_training_log_shows_memorisation_clearly_before_generalisation(learner):
    """the log shows train accuracy >= 99% clearly before validation accuracy >= 95% (a claim, see the README)"""
    records = _log(learner)
    tracked = [r for r in records if "train_acc" in r and "val_acc" in r]
    if len(tracked) < MIN_RECORDS:
        raise GradingFailure(
            f"Your training log has {len(tracked)} records with both train_acc and val_acc "
            f"(needs {MIN_RECORDS}); there is no curve to read the delay from.",
            "Call task.log(step, loss, train_acc=..., val_acc=...) every 10 steps or so.")
    s_mem, s_gen = _first_step(tracked, "train_acc", MEMORISED), _first_step(tracked, "val_acc", GENERALISED)
    learner.metrics.update({
        "step train_acc >= 99%": s_mem, "step val_acc >= 95%": s_gen,
        "delay evidence": CLAIM,
        "delay rule": f"S_gen >= {DELAY_FACTOR:g} x S_mem and S_gen - S_mem >= {MIN_DELAY_STEPS} steps",
    })
    if s_mem is None:
        raise GradingFailure(f"Your log never shows train_acc >= {MEMORISED:.0%} (last: {_last(tracked, 'train_acc')}).",
                             "The model should memorise the training pairs within a few hundred full-batch steps.")
    if s_gen is None:
        raise GradingFailure(
            f"Your log shows train_acc >= {MEMORISED:.0%} at step {s_mem} but never val_acc >= {GENERALISED:.0%} "
            f"(last: {_last(tracked, 'val_acc')}): memorised, not yet generalised.",
            "Keep training with strong weight decay (weight_decay=1.0); grokking takes thousands of steps.")
    learner.metrics["delay (steps)"] = s_gen - s_mem
    if s_gen < DELAY_FACTOR * s_mem or s_gen - s_mem < MIN_DELAY_STEPS:
        raise GradingFailure(
            f"Your log shows train_acc >= {MEMORISED:.0%} at step {s_mem} and val_acc >= {GENERALISED:.0%} at step "
            f"{s_gen}: no delay worth the name (needs val at step >= {DELAY_FACTOR:g} x {s_mem} and >= "
            f"{s_mem + MIN_DELAY_STEPS}). Validation rose with training, which is not grokking.",
            "Are the validation pairs in your training batches, or is val_acc measured on training pairs? "
            "Train on task.batches only and measure val_acc on task.validation_batches. If neither, your setup "
            "generalises too soon to show grokking: use the README's (full batch, lr 1e-3, weight_decay 1.0).")


def test_training_log_agrees_with_your_checkpoint(learner):
    """the last logged train_acc and val_acc match the judge's measurement of the checkpoint (within 5 points)"""
    records = _log(learner)
    measured = _measured(learner)
    problems = []
    for metric, split in (("train_acc", "train"), ("val_acc", "validation")):
        logged = _last(records, metric)
        if logged is None:
            problems.append(f"{metric} is never logged")
        elif abs(logged - measured[split]) > LOG_TOLERANCE:
            problems.append(f"the last logged {metric} {logged:.1%} does not match the judge's {measured[split]:.1%} "
                            f"on the same {split} pairs")
    if problems:
        raise GradingFailure(
            "Your training log does not match your checkpoint: " + "; ".join(problems) + f" (tolerance "
            f"{LOG_TOLERANCE:.0%}). The delay is read from the log, so it has to be the log of this model.",
            "Measure val_acc on every pair of task.validation_batches with the model in eval mode, train_acc on the "
            "training batch, and log once more just before train() returns.")
