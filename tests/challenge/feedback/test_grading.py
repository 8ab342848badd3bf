"""`challenge test` through a real subprocess: Ctrl-C while the learner's code runs is an
interrupted attempt in the log (exit 130), never "a bug in the grader"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HANGS = '''
import torch.nn as nn


def scaled_dot_product_attention(q, k, v, mask=None):
    print("started", flush=True)
    while True:
        pass


class SelfAttention(nn.Module):
    pass
'''


def _cli(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    return subprocess.Popen([sys.executable, "-m", "challenge", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_ctrl_c_during_a_test_logs_an_interrupted_attempt(tmp_path):
    for args in (("init", "--handle", "ada"), ("start", "attention", "--predict-hours", "2", "--predict-pass", "0.5")):
        assert _cli(*args, cwd=tmp_path).wait(timeout=120) == 0
    learner = next(tmp_path.rglob("01_attention/attention.py"))
    learner.write_text(HANGS)
    process = _cli("test", "attention", cwd=tmp_path)
    events = next(tmp_path.rglob("events.jsonl"))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None and len(_sandboxed(process.pid)) < 2:
        time.sleep(0.2)  # until the forker and a worker run: the tests have started
    time.sleep(2)  # the first test spinning in the learner's loop
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "Interrupted" in err and "bug in the grader" not in out + err and "Traceback" not in out + err
    tests = [json.loads(line) for line in events.read_text().splitlines() if '"test"' in line]
    assert tests and tests[-1]["type"] == "test" and tests[-1]["data"]["status"] == "interrupted"


def _sandboxed(judge: int) -> list[int]:
    """Processes of the judge's sandbox (the forker and its workers), found by their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"grader.worker.main" in argv and b"--control-fd" in argv and b"bwrap" not in argv.split(b"\0")[0]:
                found.append(int(entry.name))
    return found
