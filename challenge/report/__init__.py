"""The self-calibration report: built from the event log as pure data
(``build``), judged by stated rules (``verdict``, ``calibration``), rendered
for the terminal, Markdown, HTML with plots, and JSON.

    report = build_report(workspace_root=root, registry=registry, now=time.time())
    text = render_text(report, "md")          # or write_report(report, fmt="html", output=path)

Nothing here imports torch or the grader; matplotlib only when plots are drawn.
"""

from challenge.report.build import assemble_report, build_report
from challenge.report.export import FORMATS, render_text, write_report
from challenge.report.model import SCHEMA, SCHEMA_VERSION, Report

__all__ = ["FORMATS", "SCHEMA", "SCHEMA_VERSION", "Report", "assemble_report", "build_report", "render_text",
           "write_report"]
