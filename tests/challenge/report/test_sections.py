"""The report's sections are data: a new section is one row in ``challenge.report.sections.SECTIONS`` (and its
builder beside it), drawn by the Markdown and HTML renderers unchanged. Adding one touches two files: that module
and the test that shows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from challenge.report import render_text, sections
from challenge.report.sections import Bullets, Heading, Paragraph, Quote
from challenge.report.tables import Table

REPORT = Path(sections.__file__).resolve().parent


@pytest.fixture
def report(tmp_path, clock):
    from challenge.report import build_report
    from milestones import load_registry
    from tests.challenge.report import synthetic

    ws = synthetic.build(tmp_path, clock)
    return build_report(workspace_root=ws.root, registry=load_registry(), now=synthetic.NOW)


def test_a_new_section_is_drawn_by_every_renderer_without_touching_them(report, monkeypatch):
    def dummy(_report):
        return [Heading("Dummy section <b>"), Paragraph("one | paragraph"), Bullets(["first", "second"]),
                Table(["a", "b"], [["1", "2|3"]]), Quote("said\nonce")]

    monkeypatch.setattr(sections, "SECTIONS", [*sections.SECTIONS[:2], ("dummy", dummy), *sections.SECTIONS[2:]])
    markdown, page = render_text(report, "md"), render_text(report, "html")
    assert "## Dummy section &lt;b&gt;\n\none | paragraph\n\n- first\n- second\n\n| a | b |\n|---|---|\n| 1 | 2\\|3 |" \
        in markdown and "> said\n> once" in markdown
    assert markdown.index("## Milestones") < markdown.index("## Dummy section") < markdown.index("## Predictions")
    assert "<h2>Dummy section &lt;b&gt;</h2>" in page and "<li>second</li>" in page and "<td>2|3</td>" in page
    assert page.index("<h2>Milestones</h2>") < page.index("<h2>Dummy section") < page.index("<h2>Predictions")


@pytest.mark.parametrize("renderer", ["render_markdown.py", "render_html.py"])
def test_renderers_only_draw(renderer):
    """A renderer names no section's content: of the tables it uses only the Table type and the date."""
    source = (REPORT / renderer).read_text(encoding="utf-8")
    assert set(re.findall(r"tables\.(\w+)", source)) <= {"Table", "when"}
    assert "report_sections(report)" in source
