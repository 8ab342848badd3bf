"""`challenge show` renders a bundle's report without running its code;
`challenge cohort` summarises many bundles, leaving out tampered ones."""

from __future__ import annotations

import json

import pytest

from challenge.cohort.bundles import Cohort, Learner, LearnerMilestone, load_cohort, spread, summarise
from challenge.bundle.pack import submit
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.helpers import fake_pass, reference_source, rewrite
from tests.conftest import FakeClock

HOUR = 3600.0


def _invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


def _bundle(tmp_path, registry, handle: str, *, source: str, minutes: float = 30, hints: int = 0):
    clock = FakeClock()
    workspace = init_workspace(handle=handle, path=tmp_path / handle, clock=clock)
    fake_pass(workspace, registry, "attention", source=source, status="fail")
    for index in range(hints):
        workspace.log.append("hint", milestone="attention", data={"index": index})
    clock.advance(minutes * 60)
    fake_pass(workspace, registry, "attention", source=source)
    return submit(workspace=workspace, registry=registry, output=tmp_path / f"{handle}.zip").zip_path


def test_show_renders_the_report_and_runs_nothing(tmp_path, registry, capsys):
    marker = tmp_path / "the-code-ran"
    source = f"open({str(marker)!r}, 'w').write('ran')\n" + reference_source()
    bundle = _bundle(tmp_path, registry, "ada", source=source)
    assert _invoke("show", str(bundle)) == 0
    captured = capsys.readouterr()
    assert "ada" in captured.out and "attention" in captured.out and "integrity checks passed" in captured.err
    # the employer's view speaks about the learner, not to them, and names partial progress as such
    text = " ".join(captured.out.split())
    assert "The learner was overconfident: the learner gave 60%" in text
    assert "You were" not in text and "you gave" not in text and "challenge reflect" not in text
    assert "Verdict: In progress: 1 of 6 core milestones passed" in text and "Consider applying" not in text
    assert _invoke("show", str(bundle), "--format", "md") == 0
    markdown = capsys.readouterr().out
    assert "The learner was overconfident" in markdown and "You were" not in markdown
    assert _invoke("show", str(bundle), "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["handle"] == "ada"
    assert not marker.exists()


def test_show_refuses_a_tampered_bundle(tmp_path, registry, capsys):
    bundle = _bundle(tmp_path, registry, "ada", source=reference_source())
    tampered = rewrite(bundle, tmp_path / "t.zip", {"workspace/01_attention/attention.py": b"# other"}, sign=False)
    assert _invoke("show", str(tampered)) == 2
    assert "hash check failed: workspace/01_attention/attention.py" in " ".join(capsys.readouterr().err.split())


def _learner(label: str, hours: float | None, *, help: int = 0, p: float | None = None, first: bool | None = True):
    status = "passed" if hours is not None else "in progress"
    return Learner(label, f"{label}.zip", {"attention": LearnerMilestone(
        status=status, active_s=(hours or 0.5) * HOUR, attempts=1 if first else 2, first_pass=first, help=help,
        predicted_pass=p, predicted_hours=2.0, actual_hours=hours or 0.5)}, brier=None)


def test_cohort_statistics_are_plain_and_correct(registry):
    learners = [_learner("a", 1, p=0.8), _learner("b", 2, help=2, p=0.4, first=False), _learner("c", 3),
                _learner("d", 4, help=1), _learner("e", None, first=None)]
    [summary] = summarise(learners, registry)
    assert (summary.started, summary.passed, summary.pass_rate) == (5, 4, 0.8)
    assert summary.time == spread([1 * HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR])
    assert (summary.time.q1, summary.time.median, summary.time.q3) == (1.75 * HOUR, 2.5 * HOUR, 3.25 * HOUR)
    assert summary.first_pass_rate == 0.75  # of the 4 who tested
    assert summary.help_rate == 0.4 and summary.mean_help == 0.6
    assert summary.predicted_pass == pytest.approx(0.6)
    assert summary.brier == pytest.approx(((0.8 - 1) ** 2 + (0.4 - 0) ** 2) / 2)
    assert summary.hours_ratio == pytest.approx(1.25)  # median of 0.5, 1, 1.5, 2
    cohort = Cohort(learners=learners, milestones=[summary])
    assert [cohort.percentile(ln, "attention") for ln in learners] == [12.5, 37.5, 62.5, 87.5, None]
    assert spread([]) is None and spread([5.0]).median == 5.0


def test_cohort_reads_bundles_and_leaves_out_tampered_ones(tmp_path, registry, capsys):
    ada = _bundle(tmp_path, registry, "ada", source=reference_source(), minutes=10)
    grace = _bundle(tmp_path, registry, "grace", source=reference_source(), minutes=25, hints=2)
    bad = rewrite(grace, tmp_path / "bad.zip", {"workspace/workspace.json": b"{}"}, sign=False)
    cohort = load_cohort(sources=[ada, grace, bad], registry=registry)
    assert [ln.label for ln in cohort.learners] == ["ada", "grace"]
    assert cohort.excluded == [(str(bad), "hash check failed: workspace/workspace.json: sha256 differs from the "
                                          "manifest (changed after submit)")]
    [attention] = cohort.milestones
    assert (attention.started, attention.passed, attention.help_rate) == (2, 2, 0.5)
    assert cohort.percentile(cohort.learners[0], "attention") == 25.0
    assert _invoke("cohort", str(ada), str(grace), str(bad), "--format", "md") == 0
    captured = capsys.readouterr()
    assert "| attention | 2/2 (100%)" in captured.out and "## Where each learner falls" in captured.out
    assert "## Left out" in captured.out and "left out" in captured.err
    assert _invoke("cohort", str(ada), str(grace)) == 0
    assert "Where each learner falls" in capsys.readouterr().out
    assert _invoke("cohort", str(bad)) == 2


def test_cohort_lists_learners_with_similar_code(tmp_path, registry, capsys):
    folder = registry.folder(registry.get("attention"))
    own = (folder / "alternatives" / "manual_softmax_baddbmm.py").read_text()
    ada = _bundle(tmp_path, registry, "ada", source=own)
    bo = _bundle(tmp_path, registry, "bo", source=own.replace("scores", "s").replace("    ", "  "))  # ada's, renamed
    cy = _bundle(tmp_path, registry, "cy", source=(folder / "alternatives" / "einsum_fused_qkv.py").read_text())
    dee = _bundle(tmp_path, registry, "dee", source=reference_source())
    cohort = load_cohort(sources=[ada, bo, cy, dee], registry=registry)
    assert [(p.first, p.second, p.score) for p in cohort.similar] == [("dee", "reference", 1.0), ("ada", "bo", 1.0)]
    assert _invoke("cohort", str(ada), str(bo), str(cy), str(dee), "--format", "md") == 0
    printed = capsys.readouterr().out
    assert "## Similar code" in printed and "| attention | ada | bo | 100% |" in printed
    assert "| attention | dee | reference | 100% |" in printed
