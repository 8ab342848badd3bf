"""The report in a notebook: ``challenge.api.report`` returns a :class:`ReportView`, a ``Report`` (so every
renderer draws it as it is) that also draws itself as HTML. The model knows no renderer, so that none of them
imports back into it."""

from __future__ import annotations

from dataclasses import dataclass, fields

from challenge.report.model import Report


@dataclass(frozen=True)
class ReportView(Report):
    @classmethod
    def of(cls, report: Report) -> "ReportView":
        return cls(**{f.name: getattr(report, f.name) for f in fields(report)})

    def _repr_html_(self) -> str:
        """The terminal report, as HTML."""
        from challenge.notebook.html import html_of
        from challenge.report.render_terminal import render_terminal

        return html_of(lambda out: out.renderable(render_terminal(self)))
