"""Learner code that attacks the verifier. Each attack runs (its "ATTEMPT"
lines reach the captured test output) and is neutralised by a named sandbox
layer: the sneaky ones still compute the right numbers, with nothing of the
verifier's reached, and fail only the built-in rule (a milestone file may not
import os, socket or subprocess, nor open files); the one that needs the
judge's comparisons fails its tests too."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

from challenge.bundle.verify import verify_bundle
from tests.challenge.bundle.conftest import requires_isolation
from tests.challenge.bundle.helpers import hostile_source, rewrite, snapshot

pytestmark = requires_isolation
CODE = "workspace/01_attention/attention.py"


def _verify_hostile(graded_bundle, registry, verifier, name: str, **values: str):
    bundle = rewrite(graded_bundle, verifier.root / f"{name}.zip", {CODE: hostile_source(name, **values).encode()})
    before = snapshot(verifier.root)
    result = verify_bundle(source=bundle, registry=registry)
    assert result.problems == []
    [attention] = result.milestones
    output = "\n".join(attention.outputs)
    assert snapshot(verifier.root) == before, "the verifier's files changed"
    assert not any(verifier.tmp.iterdir()), "temp folders left behind"
    return result, attention, output


def _only_the_rule_fails(attention, result) -> None:
    passed, total = (int(n) for n in attention.tests.split("/"))
    assert (attention.verified, result.exit_code, passed) == ("fail", 1, total - 1), attention.tests


def test_network_is_cut_off(registry, verifier, graded_bundle):
    received: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        stop = threading.Event()

        def accept():
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except OSError:
                    continue
                received.append(connection.recv(100))
                connection.close()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "network",
                                                    PORT=str(server.getsockname()[1]))
        stop.set()
        thread.join()
    assert "ATTEMPT network loopback: blocked" in output and "CONNECTED" not in output
    assert received == []
    assert attention.sandbox["network"].startswith("none")  # the named reason: no network namespace access
    _only_the_rule_fails(attention, result)


def test_environment_secrets_are_not_readable(registry, verifier, graded_bundle, monkeypatch):
    secret = f"SECRET-{uuid.uuid4()}"
    monkeypatch.setenv("CHALLENGE_VERIFIER_SECRET", secret)
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "env_secret")
    assert "ATTEMPT env: 0 secrets found" in output
    assert secret not in output
    assert attention.sandbox["environment"] == "scrubbed"
    _only_the_rule_fails(attention, result)


def test_the_verifiers_home_is_not_readable(registry, verifier, graded_bundle):
    key = verifier.home / ".ssh" / "id_ed25519"
    result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "read_home",
                                                KEY_FILE=str(key), HOME=str(verifier.home))
    assert f"ATTEMPT home {key}: blocked" in output and f"ATTEMPT home {verifier.home}: blocked" in output
    assert "PRIVATE-KEY" not in output and "LISTED" not in output
    assert attention.sandbox["isolated"] is True and attention.sandbox["kind"] == "bubblewrap"
    _only_the_rule_fails(attention, result)


def test_writes_outside_the_scratch_folder_are_refused(registry, verifier, graded_bundle):
    tmp_target = Path("/tmp") / f"challenge-pwned-{uuid.uuid4()}"
    result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "write_outside",
                                                HOME=str(verifier.home), CWD=str(verifier.cwd), TMP=str(verifier.tmp),
                                                TMP_TARGET=str(tmp_target))
    for host_path in (verifier.home, verifier.cwd):
        assert f"ATTEMPT write {host_path}/pwned.txt: blocked" in output
    assert not tmp_target.exists()  # /tmp inside is the sandbox's own: a write there reaches nothing of the host
    assert not list(verifier.root.rglob("pwned.txt"))
    assert attention.sandbox["isolated"] is True and attention.sandbox["kind"] == "bubblewrap"
    _only_the_rule_fails(attention, result)


def test_monkeypatched_torch_comparisons_do_not_reach_the_judge(registry, verifier, graded_bundle):
    result, attention, _ = _verify_hostile(graded_bundle, registry, verifier, "monkeypatch_torch")
    # the named reason: the judge compares in its own process; zeros are zeros there
    assert (attention.claimed, attention.verified, result.exit_code) == ("pass", "fail", 1)
    assert any("failed here" in note for note in attention.notes)


def _processes_running(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_processes_do_not_outlive_the_run(registry, verifier, graded_bundle):
    first, second = f"{4000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}", f"{5000 + os.getpid() % 1000}.5"
    result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "orphan_processes",
                                                SLEEP1=first, SLEEP2=second)
    assert "ATTEMPT processes: spawned" in output
    deadline = time.monotonic() + 5
    while _processes_running(f"sleep {first}") + _processes_running(f"sleep {second}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_running(f"sleep {first}") == [] and _processes_running(f"sleep {second}") == []
    assert attention.sandbox["processes"].startswith("PID namespace")
    _only_the_rule_fails(attention, result)  # os and signal are outside the allow-list


def test_signals_to_the_grader_do_not_reach_it(registry, verifier, graded_bundle):
    started = time.monotonic()
    result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "stop_the_grader")
    # (what the import printed is not kept with a test's output; it ran first, and the grader went on)
    assert "ATTEMPT test signal 19 to the parent: Operation not permitted" in output
    assert "ATTEMPT test signal 9 to the parent: Operation not permitted" in output
    assert attention.sandbox["grader"].startswith("out of reach")  # the named reason: a PID namespace per run
    _only_the_rule_fails(attention, result)  # os and signal are outside the allow-list
    assert time.monotonic() - started < 120  # a safety bound: the stopped grader once hung verify for minutes


def test_the_grader_cannot_be_traced(registry, verifier, graded_bundle):
    result, attention, output = _verify_hostile(graded_bundle, registry, verifier, "trace_the_grader")
    for request in ("ATTACH", "SEIZE"):
        assert f"ATTEMPT test PTRACE_{request} of the parent: Operation not permitted" in output
    assert "attached" not in output
    # every numerical test ran and passed; ctypes alone fails the built-in rule (it could hide a built-in)
    assert (attention.verified, result.exit_code) == ("fail", 1)
    assert attention.sandbox["grader"].startswith("out of reach")
