"""Do training budgets mean the same on a busy machine? Train each reference
through the real engine quiet, then with CPU burners alongside, and print the
runs side by side: steps reached, CPU and wall seconds, the test metric and the
verdict of the hidden tests.

    CHALLENGE_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_budgets.py
        [--only classifier] [--budget-s 20] [--threads 1] [--burners-per-core 2] [--no-grade] [--repeat 2]

A training budget counts the worker's CPU time at a fixed thread count, so a
busy machine should make a run take longer (wall) without training it less:
the same verdict, and steps reached within a few percent. The budget is each
milestone's ``check_budget_s`` (what ``dev check`` and ``demo`` train the
reference for) unless ``--budget-s`` says otherwise; ``--threads`` overrides
``TrainRequest.threads`` to compare thread counts (``--no-grade`` then skips the
hidden tests, for a quick look at steps per CPU second).

The burners are ``python -c "while True: pass"`` processes this script starts
and stops itself. The machine may be busy already: the load average is printed
beside every run. Ratios are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from challenge.dev.check import earlier_ids  # noqa: E402
from challenge.run_requests import grade_request, train_request  # noqa: E402
from challenge.taskdata import prepare_data  # noqa: E402
from grader import api  # noqa: E402
from milestones import load_registry  # noqa: E402

REFERENCES = ("classifier", "bert", "gpt", "grokking")
METRICS = {  # milestone id -> the hidden tests' headline metric (grader/hidden/*: learner.metrics)
    "classifier": "accuracy",
    "bert": "masked-token loss (nats)",
    "gpt": "test loss (nats/token)",
    "grokking": "test accuracy (judge, held-out pairs)",
}


@dataclass(frozen=True)
class Run:
    milestone: str
    phase: str  # quiet | busy
    threads: int
    budget_s: float
    load_before: float
    load_after: float
    steps: int  # the last logged step + 1 (references log every 10 steps or so)
    tokens: int  # tokens served by task.batches(): exact, unlike steps
    stopped_by: str
    cpu_s: float
    wall_s: float
    metric: object = None
    verdict: str = ""


@contextlib.contextmanager
def burners(count: int) -> Iterator[None]:
    """``count`` busy-looping processes for the duration of the block; stopped by their own pids.

    Each in a session of its own: where the kernel groups processes by session
    (``sched_autogroup``), burners sharing one session would compete for the CPU
    as a single program, and the sandbox's worker has a session of its own."""
    started = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
               for _ in range(count)]
    try:
        time.sleep(2.0)  # let the scheduler and the load average see them
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


def train_and_grade(registry, name: str, *, budget_s: float | None, threads: int, grade: bool, phase: str,
                    save: Path | None = None) -> Run:
    milestone = registry.get(name)
    budget = float(budget_s if budget_s is not None else milestone.training.check_budget_s)
    task = prepare_data(milestone, cache_dir=Path(tempfile.gettempdir()) / "challenge-devcheck-cache")
    reference = registry.folder(milestone) / "reference.py"
    passed = earlier_ids(registry, milestone)
    request = train_request(registry=registry, milestone=milestone, learner_file=reference, passed=passed, task=task,
                            budget_s=budget)
    load_before = os.getloadavg()[0]
    outcome = api.train(replace(request, threads=threads))
    load_after = os.getloadavg()[0]
    if outcome.status != "trained":
        raise SystemExit(f"{name}: training failed: {outcome.message}")
    steps = int(outcome.history[-1]["step"]) + 1 if outcome.history else 0
    if save is not None:  # the training log, to see where the CPU time went
        save.mkdir(parents=True, exist_ok=True)
        log = save / f"{name}-{phase}-{threads}t-{time.strftime('%H%M%S')}.jsonl"
        log.write_text("".join(json.dumps(record) + "\n" for record in outcome.history), encoding="utf-8")
    run = Run(name, phase, outcome.threads, budget, load_before, load_after, steps, outcome.tokens_seen,
              outcome.stopped_by,
              outcome.cpu_s, outcome.elapsed_s)
    if not grade:
        return run
    trained = api.TrainedModel(state=outcome.state, training_log=tuple(outcome.history))
    result = api.grade(grade_request(registry=registry, milestone=milestone, learner_file=reference, passed=passed,
                                     task=task, trained=trained, seed=0))
    verdict = f"{result.status} {result.passed}/{len(result.tests)}"
    return replace(run, metric=result.metrics.get(METRICS[name]), verdict=verdict)


def show(runs: list[Run]) -> None:
    print(f"\n{'milestone':<11} {'phase':<6} {'thr':>3} {'budget':>6} {'load':>11} {'steps':>6} {'tokens':>9} "
          f"{'stop':<8} {'CPU s':>7} {'wall s':>7} {'CPU/wall':>8} {'tok/CPU s':>9} {'metric':>8}  verdict")
    for r in runs:
        metric = f"{r.metric:.4f}" if isinstance(r.metric, float) else str(r.metric or "-")
        print(f"{r.milestone:<11} {r.phase:<6} {r.threads:>3} {r.budget_s:>6g} "
              f"{r.load_before:>5.1f}-{r.load_after:<5.1f} {r.steps:>6} {r.tokens:>9} {r.stopped_by:<8} "
              f"{r.cpu_s:>7.1f} "
              f"{r.wall_s:>7.1f} {r.cpu_s / max(r.wall_s, 1e-9):>8.2f} {r.tokens / max(r.cpu_s, 1e-9):>9.0f} "
              f"{metric:>8}  {r.verdict}")


def show_ratios(runs: list[Run]) -> None:
    print("\nbusy / quiet (means over repeats): steps, tokens, tokens per CPU s, wall s; verdicts")
    for name in dict.fromkeys(r.milestone for r in runs):
        quiet = [r for r in runs if r.milestone == name and r.phase == "quiet"]
        busy = [r for r in runs if r.milestone == name and r.phase == "busy"]
        if not quiet or not busy:
            continue

        def mean(values: list[float]) -> float:
            return sum(values) / len(values)

        steps = mean([r.steps for r in busy]) / max(mean([r.steps for r in quiet]), 1e-9)
        tokens = mean([r.tokens for r in busy]) / max(mean([r.tokens for r in quiet]), 1e-9)
        rate = mean([r.tokens / r.cpu_s for r in busy]) / mean([r.tokens / r.cpu_s for r in quiet])
        wall = mean([r.wall_s for r in busy]) / mean([r.wall_s for r in quiet])
        verdicts = " | ".join(f"{r.phase}: {r.verdict or '-'}" for r in quiet + busy)
        print(f"  {name:<11} steps x{steps:.3f}  tokens x{tokens:.3f}  tok/CPU s x{rate:.3f}  wall x{wall:.2f}   "
              f"{verdicts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=REFERENCES, action="append", help="this reference only (repeatable)")
    parser.add_argument("--budget-s", type=float, help="CPU seconds per run (default: each milestone's check budget)")
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default: TrainRequest's)")
    parser.add_argument("--burners-per-core", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per reference and phase")
    parser.add_argument("--no-grade", action="store_true", help="train only: skip the hidden tests")
    parser.add_argument("--phases", default="quiet,busy", help="quiet, busy or both (comma-separated)")
    parser.add_argument("--save", type=Path, help="write each run's training log (JSON lines) into this folder")
    args = parser.parse_args()
    registry = load_registry()
    threads = args.threads or api.TrainRequest.__dataclass_fields__["threads"].default
    names = args.only or list(REFERENCES)
    n_burners = args.burners_per_core * (os.cpu_count() or 1)
    print(f"{os.cpu_count()} CPUs; {threads} worker thread(s); busy = {n_burners} burners; "
          f"load average now {os.getloadavg()[0]:.1f}")
    runs: list[Run] = []
    for phase in args.phases.split(","):
        context = burners(n_burners) if phase == "busy" else contextlib.nullcontext()
        with context:
            for _ in range(args.repeat):
                for name in names:
                    run = train_and_grade(registry, name, budget_s=args.budget_s, threads=threads,
                                          grade=not args.no_grade, phase=phase, save=args.save)
                    runs.append(run)
                    show([run])
    show(runs)
    show_ratios(runs)


if __name__ == "__main__":
    main()
