"""The report as one self-contained HTML file: inline CSS, plots embedded as
``data:`` PNGs, no scripts, and a Content-Security-Policy that forbids every
network request, so the file reads the same offline and years later. It draws the sections of
``challenge.report.sections``."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from challenge.report import tables
from challenge.report.cells import html_table, html_text
from challenge.report.model import Report
from challenge.report.plots import Plot
from challenge.report.sections import Block, Bullets, Figures, Heading, Paragraph, Quote, report_sections

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #212121; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .55em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
.verdict { font-size: 1.25em; font-weight: 600; padding: .5em .8em; border-radius: 6px; display: inline-block; }
.ready { background: #e8f5e9; color: #1b5e20; } .borderline { background: #fff8e1; color: #8d6e00; }
.skill-up-first { background: #ffebee; color: #b71c1c; } .no-verdict-yet { background: #eceff1; color: #37474f; }
.muted { color: #616161; font-size: .9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
blockquote.answer { white-space: pre-wrap; border-left: 3px solid #ddd; margin: .4em 0 1em; padding: .2em .9em; }
"""


def render_html(report: Report, *, plots: Sequence[Plot] = ()) -> str:
    e = html_text
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Self-calibration report: {e(report.handle)}</title>", f"<style>{STYLE}</style>", "</head>",
             "<body>", f"<h1>Self-calibration report: {e(report.handle)}</h1>",
             f'<p class="muted">Generated {e(tables.when(report.generated_at))} by <code>challenge report</code> '
             f"(schema {e(report.schema)} v{report.version}).</p>"]
    for section in report_sections(report):
        for block in section.blocks:
            parts += _draw(block, report, plots)
    return "\n".join([*parts, "</body>", "</html>"]) + "\n"


def _draw(block: Block, report: Report, plots: Sequence[Plot]) -> list[str]:
    e = html_text
    if isinstance(block, Heading):
        return [f"<h{block.level}>{e(block.text)}</h{block.level}>"]
    if isinstance(block, Paragraph):
        if block.style == "verdict":
            return [f'<p class="verdict {report.verdict.level.replace(" ", "-")}">{e(block.text)}</p>']
        return [f'<p class="muted">{e(block.text)}</p>' if block.style == "muted" else f"<p>{e(block.text)}</p>"]
    if isinstance(block, Bullets):
        tag = "ol" if block.numbered else "ul"
        return [f"<{tag}>" + "".join(f"<li>{e(item)}</li>" for item in block.items) + f"</{tag}>"]
    if isinstance(block, tables.Table):
        return [html_table(block.headers, block.rows)]
    if isinstance(block, Quote):
        return [f'<blockquote class="answer">{e(block.text)}</blockquote>' if block.text is not None
                else '<p class="muted">Not answered.</p>']
    if isinstance(block, Figures):
        return ["<h2>Plots</h2>", *[f'<figure><img src="data:image/png;base64,{base64.b64encode(p.png).decode()}" '
                                    f'alt="{e(p.title)}"><figcaption>{e(p.title)}</figcaption></figure>'
                                    for p in plots]] if plots else []
    raise TypeError(f"no HTML drawing for {type(block).__name__}")
