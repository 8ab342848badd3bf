"""The report says when attempts were graded without the full sandbox (a hosted notebook, a machine without
user namespaces), as each result does; and says nothing where every attempt had it or none recorded it."""

from __future__ import annotations

from challenge.report import build_report, render_text
from challenge.record.workspace import init_workspace
from challenge.report.view import ReportView

LABEL = "graded without the full sandbox"


def workspace_with_attempts(tmp_path, isolated: list[bool | None]):
    ws = init_workspace(handle="ada", path=tmp_path / "ws")
    ws.log.append("start", milestone="attention", data={})
    for flag in isolated:
        data = {"status": "fail", "passed": 1, "total": 2, "builtins_used": [], "forbidden_used": []}
        if flag is not None:
            data["sandbox_isolated"] = flag
        ws.log.append("test", milestone="attention", data=data)
    return ws


def test_unisolated_attempts_are_counted_in_every_format(tmp_path, registry):
    ws = workspace_with_attempts(tmp_path, [True, False, False, None])
    report = build_report(workspace_root=ws.root, registry=registry, now=ws.clock())
    assert [a.isolated for a in report.milestones[0].attempts] == [True, False, False, None]
    for fmt in ("md", "html"):
        assert f"2 of 4 attempts were {LABEL}" in " ".join(render_text(report, fmt).split())
    # the terminal rendering
    assert f"2 of 4 attempts were {LABEL}" in " ".join(ReportView.of(report)._repr_html_().split())
    assert [a["isolated"] for a in report.to_dict()["milestones"][0]["attempts"]] == [True, False, False, None]


def test_no_label_when_every_attempt_was_isolated_or_did_not_say(tmp_path, registry):
    ws = workspace_with_attempts(tmp_path, [True, None])
    report = build_report(workspace_root=ws.root, registry=registry, now=ws.clock())
    assert LABEL not in render_text(report, "md") and LABEL not in ReportView.of(report)._repr_html_()
