"""Cells and escaping, once for every renderer: the report's, the bundle's and the cohort's.

Numbers become text one way (hours, percentages, spreads, a missing value),
and text becomes Markdown or HTML one way. Everything drawn may come from a
stranger's bundle, so escaping is never optional: Markdown text is one line
without control characters and with raw HTML escaped (a cell also escapes
``|``; prose also escapes Markdown's own punctuation), HTML text is escaped
whole. Terminal text goes through ``challenge.output.untrusted``.
"""

from __future__ import annotations

import html

from challenge.output import plain

MISSING = "–"
MARKDOWN_PUNCTUATION = frozenset("\\`*_{}[]()#+-!|~>")


# -- numbers ---------------------------------------------------------------------------------------------------


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def hours_spread(median_s: float, q1_s: float, q3_s: float) -> str:
    """'2.1 h (1.5-3.0)': a median with its quartiles, from seconds."""
    return f"{median_s / 3600:.1f} h ({q1_s / 3600:.1f}-{q3_s / 3600:.1f})"


def percent(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else MISSING


def number(value: float | None, fmt: str = ".2f") -> str:
    return format(value, fmt) if value is not None else MISSING


# -- Markdown --------------------------------------------------------------------------------------------------


def md_inline(text: str) -> str:
    """One line of text that cannot become markup: no control characters, raw HTML escaped (a learner's note or
    test name stays text on GitHub and in any Markdown viewer)."""
    return html.escape(" ".join(plain(text).split()), quote=False)


def md_cell(text: str) -> str:
    return md_inline(text).replace("|", "\\|")


def md_prose(text: str) -> str:
    """A line of someone's prose: ``md_inline`` with Markdown's own punctuation escaped too (no links, emphasis,
    headings or tables made of it)."""
    return "".join("\\" + c if c in MARKDOWN_PUNCTUATION else c for c in md_inline(text))


def md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(md_cell(c) for c in cells) + " |"

    return [row(headers), "|" + "|".join("---" for _ in headers) + "|", *map(row, rows)]


# -- HTML ------------------------------------------------------------------------------------------------------


def html_text(text: str) -> str:
    """Text as HTML, every character that could be markup escaped (quotes too: safe inside attributes)."""
    return html.escape(plain(text, multiline=True))


def html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
