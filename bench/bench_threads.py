"""Which OpenMP and thread settings should the sandbox's worker train with? Each setting trains the
reference through the real engine for a few CPU seconds, paired with bare loops of the same model, batch
and optimiser (the reference's own ``train`` on the worker's ``TrainingTask``, in a plain Python process:
no sandbox, no protocol) measured just before it: one with OpenMP at its defaults and 2 threads (what a
plain script gets), one with the setting's own environment and threads (so that the harness's own
overhead shows apart from the setting's effect); quiet and beside busy processes. It prints steps per CPU
second and per wall second, and the harness's ratios to both bare loops: above 1 is faster than bare, below
1 is overhead.

    CHALLENGE_DATA_DIR=/work/shared/data .venv/bin/python bench/bench_threads.py
        [--only gpt] [--budget-s 6] [--quick] [--repeat 2] [--phases quiet,busy] [--configs passive,unset]

The settings (``--configs``) are the sandbox's environment for OpenMP (``grader.engine.world.OPENMP_WAIT``)
and the worker's thread count: ``OMP_WAIT_POLICY`` PASSIVE (threads sleep at once when idle), unset (libgomp
spins a while, then sleeps) or ACTIVE (always spins), and ``GOMP_SPINCOUNT`` values, at 2 threads; and one
thread. A training budget counts the worker's CPU time, every thread's, so a thread that spins while it
waits spends budget without training: the setting to keep is the fastest in wall time that keeps steps per
CPU second at the bare loop's.

Busy = 2 processes of ``while True: pass`` (``bench_budgets.burners``) beside both loops. The machine may
be busy already: the load average is printed beside every pair. Ratios are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_budgets import burners  # noqa: E402
from challenge.dev.check import earlier_ids  # noqa: E402
from challenge.run_requests import train_request  # noqa: E402
from challenge.taskdata import prepare_data  # noqa: E402
from grader import api  # noqa: E402
from grader.engine import world  # noqa: E402
from milestones import load_registry  # noqa: E402

REFERENCES = ("gpt", "classifier", "bert")
CONFIGS: dict[str, tuple[dict[str, str], int]] = {  # name -> (OpenMP environment of the sandbox, threads)
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "unset": ({}, 2),
    "active": ({"OMP_WAIT_POLICY": "ACTIVE"}, 2),
    "spin-1k": ({"GOMP_SPINCOUNT": "1000"}, 2),
    "spin-10k": ({"GOMP_SPINCOUNT": "10000"}, 2),
    "spin-100k": ({"GOMP_SPINCOUNT": "100000"}, 2),
    "1-thread": ({}, 1),
}
OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# The bare loop: the reference's own train() on the worker's TrainingTask, timed around train() as the worker
# times it (ops.op_train); it counts its steps exactly, which the harness cannot see (it reports tokens).
BARE_LOOP = r"""
import importlib.util, json, sys, time
import torch
from grader.worker.training_task import TrainingTask
reference, tensors, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
budget, threads = float(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
found = importlib.util.spec_from_file_location("reference", reference)
module = importlib.util.module_from_spec(found)
found.loader.exec_module(module)
torch.manual_seed(0)
model = module.build_model(spec)
task = TrainingTask(torch.load(tensors), spec, budget_s=budget, seed=0)
steps, batches = 0, task.batches
def counted(size):
    global steps
    for batch in batches(size):
        steps += 1
        yield batch
task.batches = counted
wall = time.monotonic()
module.train(model, task)
print(json.dumps({"steps": steps, "tokens": task.tokens_seen, "cpu_s": task.elapsed(),
                  "wall_s": time.monotonic() - wall}))
"""


@dataclass(frozen=True)
class Pair:
    milestone: str
    phase: str
    config: str
    load: tuple[float, float]
    bare: dict  # steps, tokens, cpu_s, wall_s: OpenMP defaults, 2 threads
    same: dict  # the same, with the setting's environment and threads
    harness: dict  # tokens, cpu_s, wall_s

    def rates(self, run: dict) -> tuple[float, float]:
        """Steps per CPU second and per wall second; the harness's steps from its tokens at the bare loop's
        tokens per step (the same batches, in the same order, from the same seed)."""
        steps = run.get("steps") or run["tokens"] * self.bare["steps"] / max(self.bare["tokens"], 1)
        return steps / max(run["cpu_s"], 1e-9), steps / max(run["wall_s"], 1e-9)

    def ratios(self, baseline: dict | None = None) -> tuple[float, float]:
        """The harness's steps per CPU s and per wall s over the bare loop's (defaults, or ``baseline``)."""
        (bare_cpu, bare_wall), (cpu, wall) = self.rates(baseline or self.bare), self.rates(self.harness)
        return cpu / bare_cpu, wall / bare_wall


def bare_env(config: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if config is not None:
        openmp, threads = CONFIGS[config]
        env.update(openmp, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_bare(reference: Path, tensors: Path, spec: dict, budget_s: float, config: str | None = None) -> dict:
    """The bare loop with OpenMP's defaults and 2 threads, or with ``config``'s environment and threads."""
    threads = CONFIGS[config][1] if config else 2
    done = subprocess.run([sys.executable, "-c", BARE_LOOP, str(reference), str(tensors), json.dumps(spec),
                           str(budget_s), str(threads)], env=bare_env(config), capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"the bare loop failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_harness(request, config: str) -> dict:
    openmp, threads = CONFIGS[config]
    saved = world.OPENMP_WAIT
    world.OPENMP_WAIT = dict(openmp)  # read when the sandbox starts, below
    try:
        outcome = api.train(replace(request, threads=threads))
    finally:
        world.OPENMP_WAIT = saved
    if outcome.status != "trained":
        raise SystemExit(f"{config}: training failed: {outcome.message}")
    return {"tokens": outcome.tokens_seen, "cpu_s": outcome.cpu_s, "wall_s": outcome.elapsed_s}


def measure(registry, name: str, *, configs: list[str], phases: list[str], budget_s: float, repeat: int,
            scratch: Path) -> list[Pair]:
    milestone = registry.get(name)
    task = prepare_data(milestone, cache_dir=Path(tempfile.gettempdir()) / "challenge-devcheck-cache")
    reference = registry.folder(milestone) / "reference.py"
    request = train_request(registry=registry, milestone=milestone, learner_file=reference,
                            passed=earlier_ids(registry, milestone), task=task, budget_s=budget_s)
    import torch

    tensors = scratch / f"{name}.pt"
    torch.save(task.to_worker_tensors(("train", "validation")), tensors)
    pairs = []
    for phase in phases:
        with burners(2) if phase == "busy" else contextlib.nullcontext():
            for _ in range(repeat):
                for config in configs:  # interleaved: each setting right after its own bare loop
                    before = os.getloadavg()[0]
                    bare = run_bare(reference, tensors, dict(task.spec), budget_s)
                    same = run_bare(reference, tensors, dict(task.spec), budget_s, config)
                    harness = run_harness(request, config)
                    pair = Pair(name, phase, config, (before, os.getloadavg()[0]), bare, same, harness)
                    pairs.append(pair)
                    show(pair)
    return pairs


def show(pair: Pair) -> None:
    rates = [pair.rates(run) for run in (pair.bare, pair.same, pair.harness)]
    (cpu_ratio, wall_ratio), (cpu_same, wall_same) = pair.ratios(), pair.ratios(pair.same)
    print(f"{pair.milestone:<10} {pair.phase:<5} {pair.config:<10} load {pair.load[0]:>4.1f}-{pair.load[1]:<4.1f} "
          + "  ".join(f"{what} {cpu:5.2f}/CPU s {wall:5.2f}/wall s"
                      for what, (cpu, wall) in zip(("bare", "bare same", "harness"), rates))
          + f"   vs bare x{cpu_ratio:.3f} CPU x{wall_ratio:.3f} wall; vs bare same x{cpu_same:.3f} CPU "
            f"x{wall_same:.3f} wall", flush=True)


def summary(pairs: list[Pair]) -> None:
    print("\nmedian harness / bare loop, steps per CPU s and per wall s (overhead = 1 - ratio): against the bare "
          "loop at OpenMP's defaults, and at the same setting")
    keys = dict.fromkeys((p.milestone, p.phase, p.config) for p in pairs)
    for milestone, phase, config in keys:
        chosen = [p for p in pairs if (p.milestone, p.phase, p.config) == (milestone, phase, config)]
        cpu, wall = (statistics.median(p.ratios()[i] for p in chosen) for i in (0, 1))
        cpu_same, wall_same = (statistics.median(p.ratios(p.same)[i] for p in chosen) for i in (0, 1))
        loads = [x for p in chosen for x in p.load]
        print(f"  {milestone:<10} {phase:<5} {config:<10} defaults: CPU x{cpu:.3f} wall x{wall:.3f}   same setting: "
              f"CPU x{cpu_same:.3f} wall x{wall_same:.3f}   "
              f"({len(chosen)} pairs, load {min(loads):.1f}-{max(loads):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=REFERENCES, action="append", help="this reference only (repeatable)")
    parser.add_argument("--budget-s", type=float, default=6.0, help="CPU seconds per training run")
    parser.add_argument("--quick", action="store_true", help="gpt, 3 CPU s, the sandbox's setting and unset only")
    parser.add_argument("--repeat", type=int, default=1, help="pairs per reference, phase and setting")
    parser.add_argument("--phases", default="quiet,busy", help="quiet, busy or both (comma-separated)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"settings to compare: {', '.join(CONFIGS)}")
    args = parser.parse_args()
    names, budget_s, configs = args.only or ["gpt"], args.budget_s, args.configs.split(",")
    if args.quick:
        names, budget_s, configs = ["gpt"], 3.0, ["passive", "unset"]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    print(f"{os.cpu_count()} CPUs; the sandbox now: {world.OPENMP_WAIT or 'OpenMP defaults'}; budget {budget_s:g} "
          f"CPU s per run; load average now {os.getloadavg()[0]:.1f}")
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as scratch:
        pairs = [pair for name in names
                 for pair in measure(registry, name, configs=configs, phases=args.phases.split(","),
                                     budget_s=budget_s, repeat=args.repeat, scratch=Path(scratch))]
    summary(pairs)


if __name__ == "__main__":
    main()
