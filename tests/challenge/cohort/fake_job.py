"""A fake verification job for the scheduler's tests: no sandbox, no torch.

Run as ``python fake_job.py BUNDLE PAYLOAD PARENT_PID``. The "bundle" is a
JSON file saying what the job does (``fakes.fake_bundle`` writes it): which
exit code to report, how long to sleep, or to crash, hang or print to its log.
Like the real job it dies with its parent.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    bundle, payload, parent = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    from challenge.cohort.job import die_with_parent

    die_with_parent(parent)
    from challenge.record.storage import write_json_atomic
    spec = json.loads(bundle.read_text())
    if spec.get("pid_folder"):
        (Path(spec["pid_folder"]) / f"{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(spec.get("sleep", 0.0))
    if spec.get("behaviour") == "hang":
        time.sleep(3600)
    if spec.get("behaviour") == "crash":
        print("Traceback (most recent call last):\nMemoryError: boom in the verifier", file=sys.stderr)
        return 3
    write_json_atomic(payload, payload_of(spec))
    return 0


def payload_of(spec: dict) -> dict:
    code, handle = spec["exit_code"], spec["handle"]
    if code == 2:
        return {"exit_code": 2, "reason": "hash check failed: workspace/01_attention/attention.py: sha256 differs",
                "verification": {"handle": "", "exit_code": 2, "milestones": [], "problems": [
                    {"check": "hash", "file": "workspace/01_attention/attention.py", "reason": "sha256 differs"}]},
                "claims": None, "code": {}}
    agrees = code == 0
    milestone = {"status": "passed", "active_s": spec["hours"] * 3600, "attempts": 1 if spec["first_pass"] else 2,
                 "first_pass": spec["first_pass"], "help": spec.get("help", 0), "predicted_pass": spec["predicted"],
                 "predicted_hours": 2.0, "actual_hours": spec["hours"]}
    return {"exit_code": code, "reason": "every claimed pass verified: attention" if agrees else
            "claimed passes that did not pass here: attention (fail 3/21)",
            "verification": {"handle": handle, "exit_code": code, "problems": [], "milestones": [
                {"id": "attention", "claimed": "pass", "verified": "pass" if agrees else "fail",
                 "tests": "21/21" if agrees else "3/21", "agrees": agrees, "similarity": 0.12}]},
            "claims": {"handle": handle, "brier": None, "milestones": {"attention": milestone}},
            "code": {"attention": spec.get("code", f"# {handle}\nx = 1\n")}}


if __name__ == "__main__":
    sys.exit(main())
