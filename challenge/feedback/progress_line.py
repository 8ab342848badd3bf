"""The live line of `challenge test` and `challenge watch`: which hidden test is running and how many are
left, on one line that updates, so that a slow or hung test is never minutes of silence.

Only on a terminal that can redraw a line: piped, redirected, ``--json`` or ``TERM=dumb`` output gets no
progress at all (no escape codes, no partial lines). The line is transient: it disappears when the run
ends, and the results are printed as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column

from grader.progress import TestProgress


def progress_text(progress: TestProgress) -> str:
    """``test 3 of 21 (18 more): <name>``: the count says where the run is, the name what it waits for."""
    return (f"test {min(progress.done + 1, progress.total)} of {progress.total} ({progress.left} more): "
            f"{progress.current}")


def shows_progress(console: Console) -> bool:
    return console.is_terminal and not console.is_dumb_terminal


@contextmanager
def grading_progress(console: Console, *, label: str,
                     quiet: bool = False) -> Iterator[Callable[[TestProgress], None] | None]:
    """A callback for ``grader.api.grade(on_progress=...)`` drawing the live line on ``console``; ``None``
    when ``quiet`` (``--json``) or where the console cannot redraw a line."""
    if quiet or not shows_progress(console):
        yield None
        return
    # While the hidden tests run, the judge swaps sys.stdout for a buffer and pytest captures file descriptor 1:
    # the line goes to a copy of the terminal's descriptor taken now, so that it keeps reaching the screen.
    own_file = getattr(console, "_file", None)
    console.file = terminal = _own_copy(console.file)
    bar = Progress(SpinnerColumn(), TextColumn(f"[bold]{escape(label)}[/bold]"),
                   TextColumn("{task.description}", markup=False,
                              table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                   TimeElapsedColumn(), console=console, transient=True, expand=True,
                   redirect_stdout=False, redirect_stderr=False)
    task = bar.add_task("starting the sandbox ...", total=None)

    def on_progress(progress: TestProgress) -> None:
        bar.update(task, description=progress_text(progress), refresh=True)  # each test shown, however quick

    try:
        with bar:
            yield on_progress
    finally:
        console.file = own_file  # None: back to following sys.stdout, as the sink does by default
        if terminal is not own_file and terminal is not sys.stdout:
            terminal.close()


def _own_copy(file: IO[str]) -> IO[str]:
    """``file`` on a descriptor of its own (a dup), or ``file`` itself where it has none (a buffer)."""
    try:
        file.flush()
        return os.fdopen(os.dup(file.fileno()), "w", encoding=getattr(file, "encoding", None) or "utf-8",
                         errors="replace")
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return file
