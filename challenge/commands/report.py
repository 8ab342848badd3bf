"""`challenge report`: the self-calibration report (no torch; matplotlib only for plots)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from challenge.commands.context import open_context
from challenge.commands.options import WorkspaceOpt
from challenge.output import out


class ReportFormat(str, Enum):
    terminal = "terminal"
    md = "md"
    html = "html"
    json = "json"


def report(
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="terminal, md (Markdown), html (one file "
                                                 "with plots) or json.")] = ReportFormat.terminal,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file (Markdown: its plots "
                                                   "go beside it as PNG).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print the self-calibration report: time against targets, attempts, help used,
    predictions against outcomes, how it felt, and a verdict with its rules.

    Examples:
      challenge report
      challenge report --format md --output report.md
      challenge report --format html --output report.html
      challenge report --format json
    """
    from challenge.report import build_report, render_text, write_report

    ctx = open_context(workspace)
    built = build_report(workspace_root=ctx.workspace.root, registry=ctx.registry, now=ctx.workspace.clock())
    fmt = format.value
    if output is not None:
        written = write_report(built, fmt=fmt, output=output)
        out.success(f"Report written to {written[0]}" + (
            f" (plots: {', '.join(p.name for p in written[1:])})" if len(written) > 1 else ""))
        return
    if fmt == "terminal":
        from challenge.report.render_terminal import render_terminal

        out.renderable(render_terminal(built))
        return
    out.document(render_text(built, fmt))
