"""The one output sink: every command prints through ``out``.

Rich consoles for stdout and stderr; ``--json`` output goes through
``out.json`` so that nothing else is mixed into it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table


class Output:
    def __init__(self) -> None:
        self.console = Console(highlight=False, soft_wrap=False)
        self.err_console = Console(stderr=True, highlight=False)

    def text(self, message: str = "", *, style: str | None = None) -> None:
        self.console.print(message, style=style)

    def success(self, message: str) -> None:
        self.console.print(f"[green]✓[/green] {message}")

    def warn(self, message: str) -> None:
        self.err_console.print(f"[yellow]warning:[/yellow] {message}")

    def error(self, message: str, hint: str = "") -> None:
        self.err_console.print(f"[bold red]error:[/bold red] {message}")
        if hint:
            self.err_console.print(f"[dim]hint:[/dim] {hint}")

    def table(self, table: Table) -> None:
        self.console.print(table)

    def renderable(self, thing: Any) -> None:
        self.console.print(thing)

    def json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stdout.isatty()


out = Output()
