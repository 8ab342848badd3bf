"""The README's figures for `challenge cohort verify`, on a folder of bundles
(``bench/make_cohort.py`` makes 40):

1. wall time of ``--jobs 1`` and ``--jobs 2`` (fresh output folders), with the
   load average before and after each, and the peak memory of one job's
   process tree (the job, its sandboxes and their workers; RSS and PSS summed,
   sampled every 0.5 s from /proc);
2. a ``--jobs 2`` run killed with SIGKILL once half the documents exist, then
   resumed: which jobs survived the kill (none should), whether every document
   left is whole, how many the resumed run skipped, whether any finished
   document was rewritten, and that every bundle ends with a document;
3. four shards (``--shard I/4``, one after the other), merged, against the
   merged ``--jobs 2`` run (and the ``--jobs 1`` and killed-and-resumed runs):
   the merged JSON must be identical.

    python bench/measure_cohort.py --bundles /tmp/cohort --work /tmp/cohort-runs

Prints each figure as it goes and writes them all to ``WORK/figures.json``.
Timings on a shared 2-core machine move with its load: read them with the
load averages beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def challenge(*args: str) -> list[str]:
    return [sys.executable, "-m", "challenge", *args]


def tree(root: int) -> list[int]:
    """``root`` and every descendant, from /proc (sandboxed processes included: they keep host pids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB, (0, 0) once it is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if line.endswith("kB")}
    return values.get("Rss", 0), values.get("Pss", 0)


class MemoryWatch:
    """Peak memory of each job's tree (the command's children) and of the whole command's tree."""

    def __init__(self, pid: int):
        self.pid, self.stop = pid, threading.Event()
        self.job_rss = self.job_pss = self.all_rss = self.all_pss = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            all_rss = all_pss = 0
            for job in [p for p in tree(self.pid) if p != self.pid and _parent(p) == self.pid]:
                sizes = [memory_kb(p) for p in tree(job)]
                rss, pss = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
                self.job_rss, self.job_pss = max(self.job_rss, rss), max(self.job_pss, pss)
                all_rss, all_pss = all_rss + rss, all_pss + pss
            own = memory_kb(self.pid)
            self.all_rss, self.all_pss = max(self.all_rss, all_rss + own[0]), max(self.all_pss, all_pss + own[1])


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def timed_run(bundles: list[str], output: Path, *extra: str) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    load_before = os.getloadavg()
    started = time.monotonic()
    process = subprocess.Popen(challenge("cohort", "verify", *bundles, "--output", str(output), *extra),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watch = MemoryWatch(process.pid)
    watch.thread.start()
    stdout, _ = process.communicate()
    watch.stop.set()
    return {"args": list(extra), "wall_s": round(time.monotonic() - started, 1), "exit": process.returncode,
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
            "peak_job_rss_mb": round(watch.job_rss / 1024), "peak_job_pss_mb": round(watch.job_pss / 1024),
            "peak_total_rss_mb": round(watch.all_rss / 1024), "peak_total_pss_mb": round(watch.all_pss / 1024),
            "summary": stdout.strip().splitlines()[0] if stdout.strip() else ""}


def documents(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}


def killed_and_resumed(bundles: list[str], output: Path) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    process = subprocess.Popen(challenge("cohort", "verify", *bundles, "--jobs", "2", "--output", str(output)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(documents(output)) < len(bundles) // 2 and process.poll() is None:
        time.sleep(0.2)
    jobs = [p for p in tree(process.pid) if p != process.pid]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(2.0)
    survivors = [p for p in jobs if Path(f"/proc/{p}").exists() and _state(p) != "Z"]
    before = documents(output)
    whole = 0
    for name in before:
        try:
            json.loads((output / name).read_text())
            whole += 1
        except ValueError:
            pass
    leftovers = sorted(p.name for p in output.iterdir() if p.name not in before and p.name != ".lock")
    resumed = subprocess.run(challenge("cohort", "verify", *bundles, "--jobs", "2", "--output", str(output)),
                             capture_output=True, text=True, check=False)
    after = documents(output)
    return {"documents_at_kill": len(before), "whole_at_kill": whole, "left_in_folder_at_kill": leftovers,
            "processes_of_the_run_alive_after_kill": len(survivors), "resumed_exit": resumed.returncode,
            "resumed_summary": resumed.stdout.strip().splitlines()[0] if resumed.stdout.strip() else "",
            "rewritten_after_resume": sum(1 for name, mtime in before.items() if after.get(name) != mtime),
            "documents_after_resume": len(after), "bundles": len(bundles)}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def merged_json(folders: list[Path], target: Path) -> bytes:
    subprocess.run(challenge("cohort", "merge", *map(str, folders), "--format", "json", "--output", str(target)),
                   capture_output=True, check=False)
    return target.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--skip", nargs="*", default=[], choices=["timing", "resume", "shards"])
    args = parser.parse_args()
    bundles = sorted(str(p) for p in args.bundles.glob("*.challenge.zip"))
    args.work.mkdir(parents=True, exist_ok=True)
    figures_path = args.work / "figures.json"
    figures = json.loads(figures_path.read_text()) if figures_path.exists() else {}
    figures["bundles"], figures["cpus"] = len(bundles), os.cpu_count()

    def record(key: str, value) -> None:
        figures[key] = value
        figures_path.write_text(json.dumps(figures, indent=2) + "\n")
        print(key, json.dumps(value), flush=True)

    if "timing" not in args.skip:
        record("jobs_1", timed_run(bundles, args.work / "jobs-1", "--jobs", "1"))
        record("jobs_2", timed_run(bundles, args.work / "jobs-2", "--jobs", "2"))
        record("speed_up_jobs_2", round(figures["jobs_1"]["wall_s"] / figures["jobs_2"]["wall_s"], 2))
    if "resume" not in args.skip:
        record("kill_and_resume", killed_and_resumed(bundles, args.work / "killed"))
    if "shards" not in args.skip:
        shards = []
        for index in range(1, 5):
            shards.append(timed_run(bundles, args.work / f"shard-{index}", "--jobs", "2", "--shard", f"{index}/4"))
        record("shards", shards)
        sharded = merged_json([args.work / f"shard-{i}" for i in range(1, 5)], args.work / "merged-shards.json")
        whole = merged_json([args.work / "jobs-2"], args.work / "merged-jobs-2.json")
        record("shards_identical_to_unsharded", sharded == whole)
        if (args.work / "jobs-1").is_dir():
            one_at_a_time = merged_json([args.work / "jobs-1"], args.work / "merged-jobs-1.json")
            record("jobs_1_identical_to_jobs_2", one_at_a_time == whole)
        if (args.work / "killed").is_dir():
            resumed = merged_json([args.work / "killed"], args.work / "merged-killed.json")
            record("killed_and_resumed_identical_to_unsharded", resumed == whole)
        record("shard_sizes", [len(documents(args.work / f"shard-{i}")) for i in range(1, 5)])


if __name__ == "__main__":
    main()
