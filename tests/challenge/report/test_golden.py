"""Golden files: the JSON and Markdown report of the synthetic workspace
(clock injected). After an intended change, regenerate them with
``UPDATE_GOLDEN=1 pytest tests/challenge/report/test_golden.py`` and read the diff."""

import json
import os
from pathlib import Path

import pytest

from challenge.report import SCHEMA, SCHEMA_VERSION, build_report, render_text, write_report
from milestones import load_registry
from tests.challenge.report import synthetic

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def report(tmp_path, clock):
    ws = synthetic.build(tmp_path, clock)
    return build_report(workspace_root=ws.root, registry=load_registry(), now=synthetic.NOW)


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"


def test_json_golden(report):
    text = render_text(report, "json")
    document = json.loads(text)
    assert list(document)[:2] == ["schema", "version"]
    assert (document["schema"], document["version"]) == (SCHEMA, SCHEMA_VERSION)
    check("report.json", text)


def test_markdown_golden_with_plots_beside_it(report, tmp_path):
    written = write_report(report, fmt="md", output=tmp_path / "out" / "report.md")
    assert [p.name for p in written] == ["report.md", "report-time.png", "report-predictions.png",
                                         "report-attempts.png"]
    for png in written[1:]:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 5000
    text = written[0].read_text(encoding="utf-8")
    assert "![Time per milestone against its target band](report-time.png)" in text
    check("report.md", text)
