"""The output sink's cleaning of text someone else wrote."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from challenge.output import Output, plain, untrusted

FAKE = "[bold green]VERIFIED[/bold green]"


@pytest.mark.parametrize(("text", "clean"), [
    ("\x1b[2J\x1b[Hada", "ada"),  # clear screen, cursor home
    ("a\x1b]0;title\x07b", "ab"),  # window title (OSC ... BEL)
    ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # hyperlink (OSC ... ST)
    ("a\x9b31mb", "ab"),  # one-byte C1 CSI
    ("a\rb\x08c\x00d\x7fe", "abcde"),  # carriage return, backspace, NUL, DEL
    ("abc\u202edcba", "abcdcba"),  # right-to-left override
    ("x\x1bcy", "xy"),  # full reset
    ("line one\nline two\ttab", "line one line two tab"),
])
def test_plain_removes_control_sequences(text, clean):
    assert plain(text) == clean


def test_multiline_keeps_newlines_and_tabs_and_limit_cuts():
    assert plain("a\nb\tc\x1b[1m", multiline=True) == "a\nb\tc"
    assert plain("abcdefgh", limit=5) == "abcd…"


def test_untrusted_escapes_markup_so_it_prints_literally():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(f"handle: {untrusted(FAKE)}")
    assert console.file.getvalue().strip() == f"handle: {FAKE}"
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(f"handle: {FAKE}")  # what it would have been without
    assert console.file.getvalue().strip() == "handle: VERIFIED"


def test_warn_and_error_print_their_text_cleaned_and_literally():
    sink = Output()
    sink.err_console = Console(file=io.StringIO(), width=300, color_system="truecolor", force_terminal=True,
                               highlight=False)  # as the real one
    sink.warn(f"left out \x1b[2J{FAKE}.zip")
    sink.error(f"bad name \x1b]0;x\x07{FAKE}", hint="\x1b[31mred")
    text = sink.err_console.file.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0" not in text and "\x1b[31mred" not in text
    assert text.count(FAKE) == 2  # the tags shown as text: rich did not read them
