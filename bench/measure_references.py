"""Train each training milestone's reference in-process and print how it scores.

    CHALLENGE_DATA_DIR=../shared/data python bench/measure_references.py [--budget-s 90] [--only gpt]

For each task: prepare the data, build the reference model, train it for a
budget of CPU seconds as the sandboxed worker counts it (``time.process_time``,
at the worker's thread count, OpenMP threads waiting passively), then score the
test split against the baselines
the hidden tests use: test accuracy vs the majority class for the classifier;
test loss per predicted token vs the unigram baseline and vs the same model at
random init for BERT (masked positions, fixed evaluation mask) and GPT.
This is how the reference configs were validated; ``bench/bench_budgets.py``
trains them through the real engine, quiet and beside CPU burners.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in the sandbox (grader.engine.world): read when torch loads
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.api import TrainRequest  # noqa: E402
from grader.judge import stats, tasks as judge_tasks  # noqa: E402
from grader.worker.training_task import TrainingTask  # noqa: E402
from milestones import load_registry  # noqa: E402
from milestones.tasks import prepare_task  # noqa: E402

MILESTONES = {  # milestone id -> (folder, task)
    "classifier": ("04_classifier", "rt_polarity"),
    "bert": ("05_bert", "ag_news_mlm"),
    "gpt": ("06_gpt", "ag_news_lm"),
}
WORKER_THREADS = TrainRequest.__dataclass_fields__["threads"].default  # what `challenge train` uses
EVAL_MASK_SEED = 1234
EVAL_BATCH = 128


def load_reference(folder: str):
    path = ROOT / "milestones" / folder / "reference.py"
    spec = importlib.util.spec_from_file_location(f"reference_{folder}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@torch.no_grad()
def token_losses(model, inputs, targets, padding_mask=None) -> torch.Tensor:
    """Per-target NLL for targets != -100, batch by batch, in order."""
    model.eval()
    out = []
    for start in range(0, len(inputs), EVAL_BATCH):
        x, y = inputs[start : start + EVAL_BATCH], targets[start : start + EVAL_BATCH]
        logits = model(x) if padding_mask is None else model(x, padding_mask[start : start + EVAL_BATCH])
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none", ignore_index=-100)
        out.append(loss[y.flatten() != -100])
    return torch.cat(out)


def evaluate_classifier(model, task) -> dict:
    ids, labels = task.inputs["test"].long(), task.labels["test"]
    model.eval()
    with torch.no_grad():
        chunks = [ids[s : s + 256] for s in range(0, len(ids), 256)]
        predictions = torch.cat([model(x, x == task.spec["pad_id"]).argmax(-1) for x in chunks])
    correct = int((predictions == labels).sum())
    majority = stats.majority_rate(labels)
    return {
        "test_acc": correct / len(labels),
        "majority": majority,
        "p_value": stats.binomial_sf(correct, len(labels), majority),
    }


def lm_eval_data(task) -> tuple[tuple, torch.Tensor, list[int]]:
    """(model inputs, targets with -100, ignored ids) for the LM tasks' test split."""
    if task.kind == "masked_lm":
        ids = task.inputs["test"].long()
        inputs, targets = judge_tasks.mask_for_evaluation(ids, task.spec, seed=EVAL_MASK_SEED)
        return (inputs, ids == task.spec["pad_id"]), targets, task.spec["special_ids"]
    windows = judge_tasks.windows(task.inputs["test"], task.spec["block_size"])
    return (windows[:, :-1], None), windows[:, 1:], []


def evaluate_lm(model, fresh_model, task) -> dict:
    (inputs, padding_mask), targets, ignore = lm_eval_data(task)
    learner = token_losses(model, inputs, targets, padding_mask)
    random_init = token_losses(fresh_model, inputs, targets, padding_mask)
    unigram = stats.unigram_token_losses(task.inputs["train"], targets, task.spec["vocab_size"], ignore=ignore)
    low, high = stats.bootstrap_paired_diff_ci(learner, unigram)
    return {
        "test_loss": float(learner.mean()),
        "unigram": float(unigram.mean()),
        "random_init": float(random_init.mean()),
        "margin_vs_unigram_ci95": (round(low, 3), round(high, 3)),
        "targets": len(learner),
    }


def measure(name: str, budget_s: float, seed: int) -> None:
    folder, task_name = MILESTONES[name]
    reference = load_reference(folder)
    cache_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "challenge-bench"
    task = prepare_task(task_name, data_dir=None, cache_dir=cache_dir)
    torch.manual_seed(seed)
    model = reference.build_model(task.spec)
    torch.manual_seed(seed + 1)
    fresh_model = reference.build_model(task.spec)
    n_params = sum(p.numel() for p in model.parameters())
    load_before = os.getloadavg()[0]
    training = TrainingTask(task.to_worker_tensors(), task.spec, budget_s=budget_s, seed=seed)  # CPU-time budget
    reference.train(model, training)
    cpu_s, wall_s = training.elapsed(), training.wall_elapsed()
    steps = training.history[-1]["step"] + 1 if training.history else 0
    print(f"\n== {name} ({task_name}, {task.source}) params={n_params:,} vocab={task.spec['vocab_size']}")
    print(f"   load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} thread(s) (a busy machine stretches the wall time, not the training)")
    print(f"   trained {cpu_s:.1f} CPU s (budget {budget_s:g}) in {wall_s:.1f} s wall, {steps} steps, "
          f"{training.tokens_seen / cpu_s:,.0f} tokens per CPU s")
    t0 = time.perf_counter()
    if task.kind == "classification":
        result = evaluate_classifier(model, task)
        result["random_init_acc"] = evaluate_classifier(fresh_model, task)["test_acc"]
    else:
        result = evaluate_lm(model, fresh_model, task)
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
    print(f"   evaluated in {time.perf_counter() - t0:.1f} s:", shown)
    if task.kind != "classification":
        print(f"   below unigram by {result['unigram'] - result['test_loss']:.3f} nats, "
              f"below random init by {result['random_init'] - result['test_loss']:.3f} nats")
    if task.kind == "causal_lm" and hasattr(reference, "generate"):
        prompt = task.inputs["test"][:40].long()[None]
        sample = reference.generate(model, prompt, 120)[0]
        print("   sample:", repr(task.decode(prompt[0])), "->", repr(task.decode(sample[40:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(MILESTONES), action="append", help="measure only this one (repeatable)")
    parser.add_argument("--budget-s", type=float,
                        help="CPU seconds of training (default: the milestone's default budget)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=WORKER_THREADS, help="as the worker (default %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry()
    for name in args.only or list(MILESTONES):
        measure(name, args.budget_s or registry.get(name).training.default_budget_s, args.seed)


if __name__ == "__main__":
    main()
