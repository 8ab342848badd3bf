"""The one output sink: every command prints through ``out``.

Rich consoles for stdout and stderr; ``--json`` output goes through
``out.json`` so that nothing else is mixed into it.

Text that someone else wrote (a bundle's handle, zip entry names, notes, test
names and messages from results documents, reflections) passes through
``untrusted`` before it is printed: terminal control sequences and control
characters are removed (no clearing the screen, no fake colours, no moving the
cursor) and rich markup is escaped (no fake green "VERIFIED"). ``warn`` and
``error`` treat their message as such text. ``plain`` is the same without the
markup escaping, for files (Markdown, plain text).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# ESC-introduced sequences (CSI ... final byte, OSC/DCS/APC/PM/SOS ... terminator, two-byte escapes),
# their one-byte C1 forms, then any control character left over; bidirectional overrides too
# (they reorder what the reader sees).
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # other escapes
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\n\t]")


def plain(text: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """``text`` without terminal control sequences or control characters.

    Newlines and tabs are kept when ``multiline``, else they become spaces. ``limit`` cuts
    what is left to that many characters (with an ellipsis).
    """
    cleaned = _CONTROLS.sub("", _SEQUENCES.sub("", str(text)))
    if not multiline:
        cleaned = _LINE_BREAKS.sub(" ", cleaned)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 1)] + "…"
    return cleaned


def untrusted(text: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """``plain(text)`` with rich markup escaped: safe to print, or to embed in markup."""
    return escape(plain(text, multiline=multiline, limit=limit))


class Output:
    def __init__(self) -> None:
        self.console = Console(highlight=False, soft_wrap=False)
        # Text is wrapped to a terminal's width; to a file or a pipe it goes one line per line (rich would
        # wrap it at 80 columns, and whoever reads the file, grep or a YAML reader, would see the breaks).
        self.console.soft_wrap = not self.console.is_terminal
        self.err_console = Console(stderr=True, highlight=False)
        # None: ask questions where stdin and stdout are a terminal. A notebook's kernel sets it while a magic
        # runs: True where the front end answers input() (the same prompts, in the notebook's input box).
        self.can_ask: bool | None = None
        # How to run the same test again, where that is not the shell command a result names by default: a
        # notebook cell sets it while it runs (the learner re-runs the cell, not `challenge test` in a shell).
        self.run_again: str | None = None

    def text(self, message: str = "", *, style: str | None = None) -> None:
        self.console.print(message, style=style)

    def document(self, text: str) -> None:
        """A file's content for the user to redirect (a template, a Markdown report): written as it is,
        never wrapped, styled or read as markup, whether stdout is a terminal or a file."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def success(self, message: str) -> None:
        self.console.print(f"[green]✓[/green] {message}")

    def warn(self, message: str) -> None:
        """A warning; ``message`` is plain text (it often quotes a bundle or a log): never markup."""
        self.err_console.print(f"[yellow]warning:[/yellow] {untrusted(message, multiline=True)}")

    def error(self, message: str, hint: str = "") -> None:
        """An error and its hint, both plain text (never markup), cleaned like ``untrusted``."""
        self.err_console.print(f"[bold red]error:[/bold red] {untrusted(message, multiline=True)}")
        if hint:
            self.err_console.print(f"[dim]hint:[/dim] {untrusted(hint, multiline=True)}")

    untrusted = staticmethod(untrusted)
    plain = staticmethod(plain)

    def table(self, table: Table) -> None:
        self.console.print(table)

    def renderable(self, thing: Any) -> None:
        self.console.print(thing)

    def json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    @property
    def interactive(self) -> bool:
        if self.can_ask is not None:
            return self.can_ask
        return sys.stdin.isatty() and sys.stdout.isatty()


out = Output()
