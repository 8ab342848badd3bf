"""Make a simulated cohort: N bundles from the demo's simulated learner.

Each learner plays the module milestones (attention, multihead, block) with
the reference solutions, after a wrong first try drawn from the milestone's
mutant catalogue (or none: right first time), with predictions, hours and
feel ratings drawn per learner, so the bundles differ. Grading is real (the
sandbox and the hidden tests); time is simulated. The cohort is the same for
the same ``--seed``.

    python bench/make_cohort.py --count 40 --output /tmp/cohort --jobs 2

It is what the README's cohort figures were measured on; nothing it makes is
committed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MODULE_MILESTONES = ("attention", "multihead", "block")


def scenes_for(index: int, seed: int, registry) -> tuple:
    from challenge.demo import Scene
    from milestones.mutants import read_catalogue

    draw = random.Random(seed * 100_003 + index)
    scenes = []
    for name in MODULE_MILESTONES:
        milestone = registry.get(name)
        mutants = sorted(m.name for m in read_catalogue(registry.folder(milestone)).mutants)
        low, high = milestone.target_hours.low, milestone.target_hours.high
        first_try = draw.choice(mutants) if draw.random() < 0.7 else None
        scenes.append(Scene(name, predict_hours=round(draw.uniform(low * 0.5, high), 1),
                            predict_pass=round(draw.uniform(0.2, 0.9), 2),
                            hours=round(draw.uniform(low * 0.6, high * 1.8), 2),
                            first_try=first_try, feel=draw.randint(2, 5)))
    return tuple(scenes)


def make_one(index: int, seed: int, output: Path) -> tuple[str, float]:
    from challenge.bundle.pack import submit
    from challenge.demo import run_demo
    from milestones import load_registry

    started = time.monotonic()
    registry = load_registry()
    handle = f"learner-{index:02d}"
    folder = output / "workspaces" / handle
    shutil.rmtree(folder, ignore_errors=True)  # a maker killed halfway left this learner's workspace unfinished
    result = run_demo(folder=folder, registry=registry, full=False, say=lambda _: None,
                      show_result=lambda *_: None, handle=handle, script=scenes_for(index, seed, registry))
    bundle = submit(workspace=result.workspace, registry=registry, output=output / f"{handle}.challenge.zip")
    return str(bundle.zip_path), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(args.count) if not (args.output / f"learner-{i:02d}.challenge.zip").exists()]
    print(f"making {len(todo)} bundles in {args.output} ({args.count - len(todo)} already there)", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for path, seconds in pool.map(make_one, todo, [args.seed] * len(todo), [args.output] * len(todo)):
            print(f"{path} ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
