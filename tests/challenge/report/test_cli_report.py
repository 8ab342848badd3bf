"""`challenge report` through the CLI: every format, files beside the Markdown,
one screen in the terminal, and no torch import."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from challenge.report import build_report, render_text
from milestones import load_registry
from tests.challenge.report import synthetic


@pytest.fixture
def ws(tmp_path, clock):
    return synthetic.build(tmp_path, clock)


def invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def test_terminal_report_fits_one_screen(ws):
    report = build_report(workspace_root=ws.root, registry=load_registry(), now=synthetic.NOW)
    text = render_text(report, "terminal", width=100)
    assert len(text.splitlines()) <= 40, text
    for expected in ("Verdict: In progress: 2 of 6 core milestones passed", "so far, on the milestones passed: "
                     "borderline", "Brier score: 0.285", "overconfident", "Rules: feel weighs more",
                     "Weakest areas: batching and tensor shapes", "Unreadable line(s) 8 skipped",
                     "Mistakes made: attention: NaN for a query whose keys are all masked (2 attempts); "
                     "block: could not load the code (localised; no known mistake named) (1 attempt); "
                     "attention: failed \"causal mask\", no diagnosis (1 attempt)"):
        assert expected in " ".join(text.split())  # lines wrap at 100 columns
    for readiness in ("Consider applying", "Verdict: Borderline", "Skill up first", "Failed most"):
        assert readiness not in text  # no readiness verdict on half of the challenge


def test_report_command_terminal_and_json(ws, capsys):
    assert invoke("report", "--workspace", ws.root) == 0
    assert "Self-calibration report" in capsys.readouterr().out
    assert invoke("report", "--format", "json", "--workspace", ws.root) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "challenge-report" and document["version"] == 2
    assert [m["id"] for m in document["milestones"]] == ["attention", "multihead", "block"]


def test_report_command_writes_files(ws, tmp_path, capsys):
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    assert invoke("report", "--format", "md", "--output", out_dir / "ada.md", "--workspace", ws.root) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["ada-attempts.png", "ada-predictions.png", "ada-time.png",
                                                         "ada.md"]
    assert invoke("report", "-f", "html", "-o", out_dir / "ada.html", "--workspace", ws.root) == 0
    assert (out_dir / "ada.html").read_text().count("data:image/png;base64,") == 3
    assert "Report written to" in capsys.readouterr().out


def test_report_on_a_fresh_workspace(tmp_path, capsys):
    assert invoke("init", "--handle", "bo", "--workspace", tmp_path / "ws") == 0
    for fmt in ("terminal", "md", "html", "json"):
        assert invoke("report", "--format", fmt, "--workspace", tmp_path / "ws") == 0
    assert "No milestone started yet" in capsys.readouterr().out


def test_unknown_format_is_refused():
    report = build_report(workspace_root=Path("/nonexistent"), registry=load_registry(), now=0.0)
    with pytest.raises(ValueError, match="unknown report format"):
        render_text(report, "pdf")


def test_report_does_not_import_torch(ws, tmp_path):
    argv = ["report", "--format", "html", "--output", str(tmp_path / "r.html"), "--workspace", str(ws.root)]
    code = ("import sys\nfrom challenge.cli import main\ntry:\n    main(%r)\nexcept SystemExit as done:\n"
            "    assert done.code == 0, done.code\nprint('torch imported' if 'torch' in sys.modules else 'no torch')"
            % argv)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("no torch"), done.stdout + done.stderr
    assert (tmp_path / "r.html").is_file()
