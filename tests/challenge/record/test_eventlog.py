import json
import os
import signal
import subprocess
import sys
import time

import pytest

from challenge.record.eventlog import EventLog, read_log


def test_append_and_read_back_in_order(tmp_path, clock):
    log = EventLog(tmp_path / "events.jsonl", clock=clock)
    for i in range(5):
        clock.advance(10)
        log.append("activity", milestone="attention", data={"i": i})
    reading = log.read()
    assert [e.data["i"] for e in reading.events] == list(range(5))
    assert [e.seq for e in reading.events] == list(range(5))
    assert reading.intact and not reading.problems


def test_edited_line_breaks_the_chain(tmp_path, clock):
    path = tmp_path / "events.jsonl"
    log = EventLog(path, clock=clock)
    for i in range(4):
        log.append("test", milestone="attention", data={"status": "fail"})
    lines = path.read_text().splitlines()
    forged = json.loads(lines[2])
    forged["data"]["status"] = "pass"
    lines[2] = json.dumps(forged, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    reading = read_log(path)
    assert not reading.intact
    assert any(p.line == 3 and "edited" in p.detail for p in reading.problems)


def test_deleted_line_breaks_the_chain(tmp_path, clock):
    path = tmp_path / "events.jsonl"
    log = EventLog(path, clock=clock)
    for i in range(4):
        log.append("hint", milestone="attention", data={"index": i})
    lines = path.read_text().splitlines()
    del lines[1]
    path.write_text("\n".join(lines) + "\n")
    reading = read_log(path)
    assert not reading.intact
    assert any("deleted" in p.detail for p in reading.problems)


def test_torn_last_line_is_reported_and_skipped_then_appends_continue(tmp_path, clock):
    path = tmp_path / "events.jsonl"
    log = EventLog(path, clock=clock)
    log.append("start", milestone="attention")
    log.append("pause", milestone="attention")
    with open(path, "ab") as handle:
        handle.write(b'{"data":{},"hash":"ab')  # a write cut short by a crash
    reading = read_log(path)
    assert len(reading.events) == 2 and reading.intact
    assert [p.kind for p in reading.problems] == ["torn"]
    log.append("resume", milestone="attention")
    reading = read_log(path)
    assert [e.type for e in reading.events] == ["start", "pause", "resume"]
    assert reading.intact, reading.problems  # the chain continues across the torn line


_WRITER = """
import sys
from challenge.record.eventlog import EventLog
log = EventLog(sys.argv[1])
for i in range(int(sys.argv[2])):
    log.append("activity", data={"writer": sys.argv[3], "i": i, "pad": "x" * 2000})
"""


def test_sigkill_mid_append_leaves_a_loadable_log(tmp_path):
    path = tmp_path / "events.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "100000", "k"])
    deadline = time.time() + 30
    while time.time() < deadline and (not path.exists() or path.stat().st_size < 200_000):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reading = read_log(path)
    assert len(reading.events) > 50
    assert reading.intact
    assert [e.data["i"] for e in reading.events] == list(range(len(reading.events)))
    # whatever the kill left (a torn line or nothing), appending goes on cleanly
    EventLog(path).append("resume")
    assert read_log(path).intact


def test_two_processes_appending_concurrently_lose_nothing(tmp_path):
    path = tmp_path / "events.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "200", name]) for name in "ab"]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    reading = read_log(path)
    assert reading.intact and not reading.problems
    assert len(reading.events) == 400
    for name in "ab":
        assert sorted(e.data["i"] for e in reading.events if e.data["writer"] == name) == list(range(200))


@pytest.mark.parametrize("command", [("status",), ("hint", "attention"), ("pause",), ("list",)])
def test_a_command_reads_the_log_once(tmp_path, monkeypatch, command):
    """Each command parses and verifies the log once; its own appends keep that reading current."""
    from challenge.record import eventlog
    from tests.challenge.test_cli import invoke

    assert invoke("init", "--handle", "ada", cwd=tmp_path) == 0
    assert invoke("start", "attention", "--predict-hours", "2", "--predict-pass", "0.5", cwd=tmp_path) == 0
    reads = []
    read_log = eventlog.read_log
    monkeypatch.setattr(eventlog, "read_log", lambda *a, **k: reads.append(a) or read_log(*a, **k))
    assert invoke(*command, cwd=tmp_path) == 0
    assert len(reads) == 1


def test_a_cached_reading_sees_another_process_append(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.append("init", data={"handle": "ada"})
    assert [e.type for e in log.read().events] == ["init"]
    EventLog(tmp_path / "events.jsonl").append("pause")  # another command, meanwhile
    log.append("resume")
    assert [e.type for e in log.read().events] == ["init", "pause", "resume"]
    assert log.read().intact
