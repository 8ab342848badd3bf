"""A bundle carries the Hilton milestone's written answers and its accuracy-per-position curve: in the
bundle's README (the Markdown report) and in `challenge show`, read without running the learner's code."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from challenge.bundle.pack import submit
from challenge.record.workspace import init_workspace
from grader.judge.positions import band, curve_metric
from tests.challenge.bundle.helpers import REPO, fake_pass
from tests.conftest import FakeClock


def _invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


def test_bundle_readme_and_show_carry_answers_and_curve(tmp_path, registry, capsys):
    marker = tmp_path / "the-code-ran"
    source = (REPO / "milestones" / "12_hilton" / "reference.py").read_text(encoding="utf-8")
    source = f"open({str(marker)!r}, 'w').write('ran')\n" + source.replace(
        '"An RNN or LSTM walks through time', '"<b>Bold</b> claim \\x1b[2J. An RNN or LSTM walks through time', 1)
    workspace = init_workspace(handle="ada", path=tmp_path / "ada", clock=FakeClock())
    fake_pass(workspace, registry, "hilton", source=source)
    results = next(workspace.results_dir("12_hilton").glob("fake-pass.json"))
    document = json.loads(results.read_text())
    document["metrics"] = {"accuracy per position (judge)": curve_metric(
        title="Reversal: accuracy per position", labels=["x2", "SEP", "x2"], values=[0.06, 1.0, 1.0],
        bands=[band(0, 1, 0.04, 0.08, "chance"), band(2, 3, 0.95, 1.0, ">= 95%")])}
    results.write_text(json.dumps(document))
    bundle = submit(workspace=workspace, registry=registry, output=tmp_path / "ada.zip").zip_path

    with zipfile.ZipFile(bundle) as archive:
        readme = archive.read("README.md").decode()
        names = archive.namelist()
    assert "## Written answers: hilton" in readme and "Confidence: 5/5." in readme
    assert "&lt;b&gt;Bold&lt;/b&gt; claim . An RNN or LSTM walks through time" in readme and "\x1b" not in readme
    assert "| x2 | 6.0% | 4.0%-8.0% | ok |" in readme
    assert any(Path(name).name == "curve-hilton-1.png" for name in names)

    assert _invoke("show", str(bundle), "--format", "md") == 0
    shown = capsys.readouterr().out
    assert "## Written answers: hilton" in shown and "Confidence: 4/5." in shown
    assert _invoke("show", str(bundle)) == 0
    assert "Written answers (hilton), 4 of 4" in capsys.readouterr().out
    assert not marker.exists()
