"""Argument and option types shared by the command modules."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

WorkspaceOpt = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", envvar="CHALLENGE_WORKSPACE", show_envvar=True,
                 help="Workspace folder. Default: the one you are in, or the only one under ./submissions."),
]
MilestoneArg = Annotated[str, typer.Argument(help="Milestone id, folder or number, e.g. attention, 02_multihead, 3.",
                                             show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the machine-readable document instead.")]


class DocumentFormat(str, Enum):
    """Where a report-like document goes: the terminal, or a file as Markdown, HTML or JSON."""

    terminal = "terminal"
    md = "md"
    html = "html"
    json = "json"
