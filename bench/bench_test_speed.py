"""How long `challenge test attention` takes on the reference solution, as a
multiple of a bare `python -c "import torch"` measured in the same run.

    .venv/bin/python bench/bench_test_speed.py [--repeat 5] [--seed 1]

Both go through a fresh subprocess each time, so the figure includes what a
learner waits for: the CLI's start, the judge importing torch and pytest, the
sandboxed worker starting (namespaces, Landlock, torch again) and the hidden
tests. Target: at most 3x. Printed, never asserted (timings vary by machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "milestones" / "01_attention" / "reference.py"
TARGET_RATIO = 3.0


def timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def workspace_with_reference(folder: Path, env: dict[str, str]) -> None:
    challenge = [sys.executable, "-m", "challenge"]
    for args in (["init", "--handle", "bench"], ["start", "attention"]):
        subprocess.run([*challenge, *args], cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    learner_files = [p for p in folder.rglob("attention.py") if "01_attention" in str(p.parent)]
    if len(learner_files) != 1:
        raise SystemExit(f"expected one attention.py in the workspace, found {learner_files}")
    shutil.copyfile(REFERENCE, learner_files[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (the median is reported)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the hidden tests' shapes and values")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    with tempfile.TemporaryDirectory(prefix="challenge-bench-") as tmp:
        folder = Path(tmp)
        workspace_with_reference(folder, env)
        test_command = [sys.executable, "-m", "challenge", "test", "attention", "--seed", str(args.seed)]
        torch_command = [sys.executable, "-c", "import torch"]
        timed(torch_command, cwd=folder, env=env)  # warm the page cache for both
        timed(test_command, cwd=folder, env=env)
        torch_times, test_times = [], []
        for _ in range(args.repeat):  # interleaved, so that a burst of load hits both
            torch_times.append(timed(torch_command, cwd=folder, env=env))
            test_times.append(timed(test_command, cwd=folder, env=env))
    torch_median, test_median = statistics.median(torch_times), statistics.median(test_times)
    ratio = test_median / torch_median
    print(f"python -c 'import torch': median {torch_median:.2f} s  ({', '.join(f'{t:.2f}' for t in torch_times)})")
    print(f"challenge test attention: median {test_median:.2f} s  ({', '.join(f'{t:.2f}' for t in test_times)})")
    print(f"ratio: {ratio:.2f}x  (target <= {TARGET_RATIO:g}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
