"""Write the report to files in each format (used by `challenge report
--output` and, later, by `challenge submit`)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from challenge.report.model import Report
from challenge.record.storage import write_atomic

FORMATS = ("terminal", "md", "html", "json")


def render_text(report: Report, fmt: str, *, width: int = 110) -> str:
    """The report as text in ``fmt``; Markdown without plot links, HTML with embedded plots."""
    if fmt == "json":
        from challenge.report.render_json import render_json

        return render_json(report)
    if fmt == "md":
        from challenge.report.render_markdown import render_markdown

        return render_markdown(report)
    if fmt == "html":
        from challenge.report.plots import make_plots
        from challenge.report.render_html import render_html

        return render_html(report, plots=make_plots(report))
    if fmt == "terminal":
        from rich.console import Console

        from challenge.report.render_terminal import render_terminal

        console = Console(width=width, record=True, file=_Discard(), color_system=None)
        console.print(render_terminal(report))
        return console.export_text()
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


def write_report(report: Report, *, fmt: str, output: Path) -> list[Path]:
    """Write the report to ``output``; for Markdown, its plots go beside it as PNGs.

    Returns every file written, the report first.
    """
    output = Path(output)
    if fmt != "md":
        _write(output, render_text(report, fmt))
        return [output]
    from challenge.report.plots import make_plots
    from challenge.report.render_markdown import render_markdown

    written: list[Path] = []
    images = []
    for plot in make_plots(report):
        path = output.with_name(f"{output.stem}-{plot.key}.png")
        _write(path, plot.png)
        written.append(path)
        images.append((plot.title, quote(path.name)))
    _write(output, render_markdown(report, images=images))
    return [output, *written]


def _write(path: Path, data: str | bytes) -> None:
    write_atomic(path, data)
    os.chmod(path, 0o644)  # a report is meant to be shared; the temp file it came from was private


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
