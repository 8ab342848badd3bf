"""The report as GitHub-flavoured Markdown: it draws the sections of ``challenge.report.sections``.
Plots are linked, not embedded: ``images`` lists (title, relative path) of PNGs written next to the file."""

from __future__ import annotations

from collections.abc import Sequence

from challenge.report import tables
from challenge.report.cells import md_inline, md_prose, md_table
from challenge.report.model import Report
from challenge.report.sections import Block, Bullets, Figures, Heading, Paragraph, Quote, report_sections


def render_markdown(report: Report, *, images: Sequence[tuple[str, str]] = ()) -> str:
    lines = [f"# Self-calibration report: {md_inline(report.handle)}", "",
             f"Generated {tables.when(report.generated_at)} by `challenge report` "
             f"(schema {report.schema} v{report.version}).", ""]
    for section in report_sections(report):
        for block in section.blocks:
            lines += _draw(block, images)
    return "\n".join(lines).rstrip() + "\n"


def _draw(block: Block, images: Sequence[tuple[str, str]]) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + md_inline(block.text), ""]
    if isinstance(block, Paragraph):
        return [f"**{md_inline(block.text)}.**" if block.style == "verdict" else md_inline(block.text), ""]
    if isinstance(block, Bullets):
        return [(f"{number}. " if block.numbered else "- ") + md_inline(item)
                for number, item in enumerate(block.items, start=1)] + [""]
    if isinstance(block, tables.Table):
        return [*md_table(block.headers, block.rows), ""]
    if isinstance(block, Quote):
        if block.text is None:
            return ["*Not answered.*", ""]
        return [f"> {md_prose(line)}" if line.strip() else ">" for line in block.text.splitlines()] + [""]
    if isinstance(block, Figures):
        return ["## Plots", "", *[line for title, path in images for line in (f"![{title}]({path})", "")]] \
            if images else []
    raise TypeError(f"no Markdown drawing for {type(block).__name__}")
