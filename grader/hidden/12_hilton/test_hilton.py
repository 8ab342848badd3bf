"""Hidden tests for milestone 12: Bonus: Jacob Hilton's transformer questions and the reversal task.

A template from `challenge dev new`: replace it with tests that decide on
held-out data with statistics and report baselines, in the style of
grader/hidden/04_classifier/, then catalogue mutants in
milestones/12_hilton/mutants.yaml. A failure must raise GradingFailure
(message, hint); any other exception is reported as a bug in the hidden test.
"""

from grader.judge.compare import GradingFailure
from grader.judge.trained import check_logits, task_of, trained_model

FLOOR = 0.9  # accuracy on the training pairs; random init answers about 1 in p


def test_checkpoint_loads_into_your_model(learner):
    """your checkpoint loads into build_model(spec), every weight accounted for"""
    trained_model(learner)


def test_the_model_fits_its_training_pairs(learner):
    """the trained model answers at least 90% of its training pairs"""
    task = task_of(learner)
    ids, labels = task.inputs["train"].long(), task.labels["train"]
    logits = check_logits(trained_model(learner).infer(ids), (len(ids), task.spec["p"]), "model(ids)")
    accuracy = float((logits.argmax(-1) == labels).float().mean())
    learner.metrics["train accuracy (judge)"] = round(accuracy, 4)
    if accuracy < FLOOR:
        raise GradingFailure(f"The trained model answers {accuracy:.1%} of its training pairs; it needs {FLOOR:.0%}.",
                             "Train longer, or check that the loss falls and the weights are kept in the model.")
