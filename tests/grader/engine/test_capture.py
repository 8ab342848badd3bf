"""The output capture: what a worker wrote before it replied is never lost, however late the pump thread wakes."""

from __future__ import annotations

import os
import threading
import time

from grader.engine import capture as capture_module
from grader.engine.capture import OUTPUT_KEEP, OutputCapture


def _pumped(monkeypatch, *, asleep: bool):
    """A pipe whose read end is pumped; ``asleep``: the pump thread never wakes from select (a busy machine)."""
    never = threading.Event()
    if asleep:
        monkeypatch.setattr(capture_module.select, "select", lambda *args: never.wait() or ([], [], []))
    read_end, write_end = os.pipe()
    capture = OutputCapture()
    thread = threading.Thread(target=capture.pump, args=(os.fdopen(read_end, "rb"),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not capture.live and time.monotonic() < deadline:
        time.sleep(0.01)
    return capture, write_end, thread


def test_output_written_before_the_reply_is_kept_even_if_the_pump_never_woke(monkeypatch):
    capture, write_end, _ = _pumped(monkeypatch, asleep=True)
    mark = capture.mark()
    os.write(write_end, b"ATTEMPT spawned\n")
    assert capture.since(mark) == ("ATTEMPT spawned\n", 0)
    os.close(write_end)


def test_a_mark_leaves_earlier_output_to_the_window_before_it(monkeypatch):
    capture, write_end, _ = _pumped(monkeypatch, asleep=True)
    os.write(write_end, b"first test\n")
    mark = capture.mark()
    os.write(write_end, b"second test\n")
    assert capture.since(mark) == ("second test\n", 0)
    os.close(write_end)


def test_the_pump_keeps_a_window_counts_the_rest_and_ends_at_eof(monkeypatch):
    capture, write_end, thread = _pumped(monkeypatch, asleep=False)
    mark = capture.mark()
    writer = threading.Thread(target=lambda: (os.write(write_end, b"x" * (OUTPUT_KEEP + 1000)), os.close(write_end)))
    writer.start()
    writer.join(timeout=30)
    thread.join(timeout=30)
    assert not thread.is_alive() and capture.live == []
    text, lost = capture.since(mark)
    assert len(text) == OUTPUT_KEEP and lost == 1000
