"""Hidden tests for milestone 4: the trained classifier on the held-out test split.

The worker receives the test sentences' token ids only; the judge keeps the
labels, computes accuracy and decides with an exact binomial test."""

import torch

from grader.judge.compare import GradingFailure
from grader.judge.trained import classify, padding_change, random_init_model, task_of, trained_model
from grader.judge import trained_probes as probes
from grader.judge.stats import binomial_sf, majority_rate
from grader.judge.run_cache import StashKey

ALPHA = 1e-6
FLOOR = 0.65  # the challenge's "clearly better than random" on rt-polarity, in practice

SCORES: StashKey[dict[str, torch.Tensor]] = StashKey("scores")  # computed once per run


def _evaluate(learner):
    cache = learner.run_cache.setdefault(SCORES, {})
    if "trained" not in cache:
        task = task_of(learner)
        ids, labels = task.inputs["test"], task.labels["test"]
        logits = classify(trained_model(learner), ids, task.spec["pad_id"], task.spec["n_classes"])
        random_logits = classify(random_init_model(learner), ids, task.spec["pad_id"], task.spec["n_classes"])
        cache["trained"] = (logits.argmax(-1) == labels)
        cache["random"] = (random_logits.argmax(-1) == labels)
        cache["logits"] = logits
        _record(learner, cache, labels)
    return cache


def _record(learner, cache, labels):
    task = task_of(learner)
    n, correct = len(labels), int(cache["trained"].sum())
    majority = majority_rate(labels)
    learner.metrics.update({
        "test examples": n,
        "accuracy": round(correct / n, 4),
        "majority-class baseline": round(majority, 4),
        "random-init accuracy": round(float(cache["random"].float().mean()), 4),
        "p-value vs majority (exact binomial)": float(f"{binomial_sf(correct, n, majority):.3g}"),
        "pass rule": f"accuracy >= {FLOOR:.0%}, p < {ALPHA:g} vs majority, better than random init",
    })
    probs = cache["logits"].softmax(-1)
    names = task.label_names or [str(i) for i in range(task.spec["n_classes"])]
    for i in range(min(5, n)):  # "look at the first test batch"
        learner.examples.append({"text": task.decode(task.inputs["test"][i], skip_special=True)[:100],
                                 "label": names[int(labels[i])], "predicted": names[int(probs[i].argmax())],
                                 "confidence": f"{float(probs[i].max()):.2f}"})


def test_checkpoint_loads_into_your_model(learner):
    """your checkpoint loads into build_model(spec), every weight accounted for"""
    trained_model(learner)


def test_accuracy_is_clearly_above_the_majority_class(learner):
    """test accuracy beats always guessing the majority class (exact binomial, p < 1e-6) and reaches 65%"""
    scores = _evaluate(learner)
    labels = task_of(learner).labels["test"]
    n, correct = len(labels), int(scores["trained"].sum())
    majority = majority_rate(labels)
    p_value = binomial_sf(correct, n, majority)
    accuracy = correct / n
    if p_value >= ALPHA or accuracy < FLOOR:
        numbers = (f"Test accuracy {accuracy:.1%} ({correct}/{n}); always guessing the majority class gives "
                   f"{majority:.1%}; one-sided exact binomial p = {p_value:.2g} (needs < {ALPHA:g}) and the floor "
                   f"is {FLOOR:.0%}.")
        finding = _probe(learner)
        if finding is not None:
            raise GradingFailure(f"{finding.message}\n{numbers}", finding.hint)
        raise GradingFailure(numbers,
            "Train longer or check the loop: does the loss fall below ln(2) = 0.69? Are padding tokens masked "
            "in attention and pooling? Does your loop keep the trained weights in the model it was given?")


def _probe(learner):
    """The known failure shapes of a classifier: ignoring the words, reading padding, ignoring the labels."""
    task = task_of(learner)
    spec = task.spec
    model = trained_model(learner)
    pad, n_classes = spec["pad_id"], spec["n_classes"]
    ids = task.inputs["test"][:32].long()
    special = [spec[k] for k in ("pad_id", "unk_id", "cls_id") if k in spec]

    def labels_ignored():
        if "train" not in task.labels:
            return None
        train_ids, train_labels = task.inputs["train"][:1000].long(), task.labels["train"][:1000]
        predicted = classify(model, train_ids, pad, n_classes).argmax(-1)
        return probes.ignores_labels(train_accuracy=float((predicted == train_labels).float().mean()),
                                     majority=majority_rate(train_labels), n_classes=n_classes,
                                     final_loss=probes.final_loss(learner.trained.training_log))

    return probes.first(
        lambda: probes.ignores_input(lambda x: classify(model, x, pad, n_classes), ids, vocab_size=spec["vocab_size"],
                                     keep=torch.isin(ids, torch.tensor(special)), special=special),
        lambda: probes.reads_padding(padding_change(model, task.inputs["test"], pad, out_size=n_classes,
                                                    per_token=False, rows=32)),
        labels_ignored)


def test_better_than_the_same_model_at_random_init(learner):
    """the trained model beats the same architecture at random initialisation"""
    scores = _evaluate(learner)
    trained, random = scores["trained"], scores["random"]
    # McNemar's exact test on the examples where exactly one of the two is right
    only_trained = int((trained & ~random).sum())
    only_random = int((~trained & random).sum())
    p_value = binomial_sf(only_trained, only_trained + only_random, 0.5) if only_trained + only_random else 1.0
    if p_value >= 1e-3:
        raise GradingFailure(
            f"Trained accuracy {float(trained.float().mean()):.1%} vs random init {float(random.float().mean()):.1%}: "
            f"right only when trained {only_trained}, right only at random init {only_random} (McNemar p = {p_value:.2g}).",
            "Training did not change the model much: is optimizer.step() called on this model's parameters?")


def test_padding_does_not_change_predictions(learner):
    """predictions do not depend on how much padding follows a sentence"""
    task = task_of(learner)
    diff = padding_change(trained_model(learner), task.inputs["test"], task.spec["pad_id"],
                          out_size=task.spec["n_classes"], per_token=False)
    if diff > 1e-4:
        raise GradingFailure(
            f"The same test sentences give different logits with more padding columns (max abs diff {diff:.3g}).",
            "Padding leaks in: mask padded keys in attention (key_padding_mask) and pool over real tokens only.")


def test_evaluation_is_deterministic(learner):
    """two evaluations of the same batch in eval mode agree (dropout is off)"""
    task = task_of(learner)
    ids = task.inputs["test"][:32].long()
    model = trained_model(learner)
    first = classify(model, ids, task.spec["pad_id"], task.spec["n_classes"])
    second = classify(model, ids, task.spec["pad_id"], task.spec["n_classes"])
    if not torch.equal(first, second):
        raise GradingFailure("Two forward passes in eval mode gave different logits.",
                             "Dropout still active in eval mode? Use nn.Dropout or F.dropout(..., training=self.training).")
