"""How long the learner waits for a verdict, as multiples of a bare
`python -c "import torch"` measured in the same run:

- a cold `challenge test attention` on the reference solution (target <= 2x);
- `challenge watch attention`: its first verdict, then from a save to the
  verdict printed, re-run after re-run (target <= 0.3x).

    .venv/bin/python bench/bench_test_speed.py [--repeat 5] [--saves 8] [--seed 1]

Every figure goes through a fresh subprocess, so it includes what a learner
waits for: the CLI's start, the judge importing torch and pytest, the sandbox
(bubblewrap where it runs) and the hidden tests. Printed, never asserted
(timings vary by machine); the runs are interleaved so that a burst of load
hits every kind alike.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "milestones" / "01_attention" / "reference.py"
COLD_TARGET, WARM_TARGET = 2.0, 0.3
VERDICT = "attention passed"


def timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def workspace_with_reference(folder: Path, env: dict[str, str]) -> Path:
    challenge = [sys.executable, "-m", "challenge"]
    for args in (["init", "--handle", "bench"],
                 ["start", "attention", "--predict-hours", "2", "--predict-pass", "0.5"]):
        subprocess.run([*challenge, *args], cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    learner_files = [p for p in folder.rglob("attention.py") if "01_attention" in str(p.parent)]
    if len(learner_files) != 1:
        raise SystemExit(f"expected one attention.py in the workspace, found {learner_files}")
    shutil.copyfile(REFERENCE, learner_files[0])
    return learner_files[0]


def watch_times(folder: Path, learner: Path, env: dict[str, str], saves: int) -> tuple[float, list[float]]:
    """(seconds from launch to the first verdict, seconds from each save to its verdict)."""
    process = subprocess.Popen([sys.executable, "-m", "challenge", "watch", "attention"], cwd=folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.perf_counter(), line)) for line in process.stdout],
                     daemon=True).start()

    def next_verdict(timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                when, line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if VERDICT in line:
                return when
            if "not passing" in line or "could not run" in line:
                raise SystemExit(f"watch reported a failure: {line}")
        raise SystemExit("watch printed no verdict")

    started = time.perf_counter()
    try:
        first = next_verdict() - started
        rerun = []
        source = learner.read_text()
        for index in range(saves):
            time.sleep(0.5)  # the learner reads the verdict, then saves again
            saved = time.perf_counter()
            learner.write_text(source + f"\n# save {index}\n")
            rerun.append(next_verdict() - saved)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return first, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="cold runs of each command (the median is reported)")
    parser.add_argument("--saves", type=int, default=8, help="saves while `challenge watch` runs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the hidden tests' shapes and values")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    with tempfile.TemporaryDirectory(prefix="challenge-bench-") as tmp:
        folder = Path(tmp)
        learner = workspace_with_reference(folder, env)
        test_command = [sys.executable, "-m", "challenge", "test", "attention", "--seed", str(args.seed)]
        torch_command = [sys.executable, "-c", "import torch"]
        timed(torch_command, cwd=folder, env=env)  # warm the page cache for both
        timed(test_command, cwd=folder, env=env)
        torch_times, test_times = [], []
        for _ in range(args.repeat):  # interleaved, so that a burst of load hits both
            torch_times.append(timed(torch_command, cwd=folder, env=env))
            test_times.append(timed(test_command, cwd=folder, env=env))
        first, rerun = watch_times(folder, learner, env, args.saves)
        torch_times.append(timed(torch_command, cwd=folder, env=env))
    torch_median, test_median, rerun_median = (statistics.median(x) for x in (torch_times, test_times, rerun))

    def line(label: str, seconds: float, samples: list[float], target: float | None = None) -> None:
        ratio = seconds / torch_median
        verdict = f" (target <= {target:g}x: {'met' if ratio <= target else 'NOT met'})" if target else ""
        shown = ", ".join(f"{t:.2f}" for t in samples)
        print(f"{label:<44} median {seconds:5.2f} s = {ratio:4.2f}x{verdict}  ({shown})")

    line("python -c 'import torch'", torch_median, torch_times)
    line("challenge test attention (cold)", test_median, test_times, COLD_TARGET)
    line("challenge watch attention: first verdict", first, [first])
    line("challenge watch attention: save -> verdict", rerun_median, rerun, WARM_TARGET)
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
