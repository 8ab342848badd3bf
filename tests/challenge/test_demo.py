"""`challenge demo`: fast by default, what it skips is named with why, and training shows a bar.

The milestones themselves are stood in for here (the real demo runs in CI, first thing)."""

from __future__ import annotations

import io
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from rich.console import Console

from challenge import demo as demo_module
from challenge.data import MissingData
from challenge.training.bar import training_bar
from milestones import load_registry
from milestones.mutants import mutant_source

REGISTRY = load_registry()
MODULES = ["attention", "multihead", "block"]
TRAINED = ["classifier", "bert", "gpt"]


@pytest.fixture
def played(monkeypatch):
    """Every milestone played passes at once; records which were played."""
    seen = []

    def fake_play(scene, milestone, *args):
        seen.append(milestone.id)
        return None

    monkeypatch.setattr(demo_module, "_play", fake_play)
    return seen


def test_the_default_demo_plays_the_modules_and_names_what_it_skips(tmp_path, played, monkeypatch):
    monkeypatch.setattr(demo_module, "missing_data", lambda **kwargs: [])
    result = demo_module.run_demo(folder=tmp_path, registry=REGISTRY, full=False, say=lambda text: None,
                                  show_result=lambda result, label: None)
    assert played == MODULES and result.passed == MODULES
    assert result.not_played == {m: demo_module.FAST_SKIP for m in TRAINED} and not result.failed


def test_the_full_demo_skips_only_what_has_no_data_and_says_which(tmp_path, played, monkeypatch):
    missing = [MissingData("rt_polarity", ["classifier"])]
    monkeypatch.setattr(demo_module, "missing_data", lambda **kwargs: missing)
    said = []
    result = demo_module.run_demo(folder=tmp_path, registry=REGISTRY, full=True, say=said.append,
                                  show_result=lambda result, label: None)
    assert played == MODULES + ["bert", "gpt"]
    assert result.not_played == {"classifier": "no rt_polarity data on this machine or the hub"}
    assert result.missing == missing and any("skipped, no rt_polarity data" in line for line in said)


def test_the_full_demo_says_first_what_it_cannot_play_and_why(tmp_path, monkeypatch):
    """Before anything is played: which milestones will be skipped, why, and the command that changes it."""
    missing = [MissingData("ag_news", ["bert", "gpt"])]
    monkeypatch.setattr(demo_module, "missing_data", lambda **kwargs: missing)
    said = []

    def fake_play(scene, milestone, *args):
        said.append(f"played {milestone.id}")

    monkeypatch.setattr(demo_module, "_play", fake_play)
    demo_module.run_demo(folder=tmp_path, registry=REGISTRY, full=True, say=said.append,
                         show_result=lambda result, label: None)
    first_play = said.index("played attention")
    (warning,) = [line for line in said[:first_play] if "cannot be played" in line]
    assert "bert, gpt cannot be played" in warning and "ag_news" in warning and "hub is unreachable" in warning
    assert "challenge data fetch" in warning and "challenge data import" in warning


def test_the_demo_says_why_its_learner_is_flagged_as_a_copy(tmp_path, played, monkeypatch):
    monkeypatch.setattr(demo_module, "missing_data", lambda **kwargs: [])
    said = []
    demo_module.run_demo(folder=tmp_path, registry=REGISTRY, full=False, say=said.append,
                         show_result=lambda result, label: None)
    assert any("pastes the reference solutions" in line and "copy" in line for line in said[:3])
    flagged = SimpleNamespace(milestones=[SimpleNamespace(id="attention", similarity_flagged=True),
                                          SimpleNamespace(id="multihead", similarity_flagged=False)])
    why = demo_module.flagged_as_copies(flagged)
    assert why.startswith("'like ref.' is flagged for attention:") and "pasted the reference" in why
    assert demo_module.flagged_as_copies(SimpleNamespace(milestones=[])) is None


def _outcome(status: str, message: str = ""):
    return SimpleNamespace(status=status, message=message, elapsed_s=3.0, cpu_s=2.5,
                           history=[{"step": 5, "loss": 1.25, "elapsed_s": 3.0}])


@pytest.mark.parametrize("status, message, problem", [
    ("trained", "", None),
    ("crashed", "MemoryError in your training loop", "training failed: MemoryError in your training loop"),
])
def test_training_shows_a_bar_and_a_failure_is_named_with_its_reason(monkeypatch, workspace, status, message,
                                                                       problem):
    import challenge.training.run

    bars, updates = [], []

    @contextmanager
    def bar(label, budget_s):
        bars.append((label, budget_s))
        yield SimpleNamespace(on_progress=updates.append, on_stop_requested=lambda: None)

    def fake_train(**kwargs):
        kwargs["on_progress"]({"step": 5, "loss": 1.25, "elapsed_s": 3.0})
        assert kwargs["task"] == "the data"
        return SimpleNamespace(outcome=_outcome(status, message))

    monkeypatch.setattr(challenge.training.run, "prepare_data", lambda milestone, cache_dir: "the data")
    monkeypatch.setattr(challenge.training.run, "train_milestone", fake_train)
    said = []
    classifier = REGISTRY.get("classifier")
    got = demo_module._train(classifier, workspace, REGISTRY, demo_module.SimulatedClock(0.0), said.append, bar)
    assert got == problem
    assert bars == [("training classifier", classifier.training.check_budget_s)] and updates[0]["step"] == 5


def test_data_that_cannot_be_loaded_is_named_not_called_a_training_failure(monkeypatch, workspace):
    import challenge.training.run
    from challenge.errors import ChallengeError

    def no_data(milestone, cache_dir):
        raise ChallengeError("'gpt' has no data to work with. Cannot load the ag_news data set: ...")

    monkeypatch.setattr(challenge.training.run, "prepare_data", no_data)
    got = demo_module._train(REGISTRY.get("gpt"), workspace, REGISTRY, demo_module.SimulatedClock(0.0),
                             lambda text: None, demo_module._no_bar)
    assert got.startswith("no data: 'gpt' has no data to work with")


def test_the_closing_lines_name_each_skip_failure_and_fix(capsys):
    from challenge.commands.demo import _tell_what_was_not_played

    result = SimpleNamespace(
        failed={"bert": "training failed: MemoryError"},
        not_played={"classifier": demo_module.FAST_SKIP, "gpt": demo_module.FAST_SKIP},
        missing=[MissingData("rt_polarity", ["classifier"]), MissingData("ag_news", ["bert", "gpt"])])
    _tell_what_was_not_played(result)
    said = " ".join(capsys.readouterr().out.split())
    assert "Failed bert: training failed: MemoryError" in said
    assert "Skipped in this fast demo: classifier, gpt" in said and "challenge demo --full" in said
    assert "classifier (rt_polarity data), bert and gpt (ag_news data)" in said
    assert "Fix: challenge data fetch" in said and "no data or training failed" not in said


def test_the_training_bar_shows_steps_loss_and_speed():
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=False)
    with training_bar(console, label="training gpt", budget_s=10) as bar:
        bar.on_progress({"step": 12, "loss": 2.5, "elapsed_s": 4.0, "tokens_per_s": 1234.0})
    shown = buffer.getvalue()
    assert "training gpt" in shown and "step 12 · loss 2.500 · 1,234 tok per CPU s" in shown


def test_a_failed_grading_is_named_with_its_first_failing_test(monkeypatch, workspace):
    tests = [SimpleNamespace(name="shapes", status="pass"), SimpleNamespace(name="beats the majority class",
                                                                             status="fail")]
    graded = SimpleNamespace(result=SimpleNamespace(status="fail", passed=1, tests=tests, metrics={}))
    monkeypatch.setattr(demo_module, "run_tests", lambda **kwargs: graded)
    monkeypatch.setattr(demo_module, "_train", lambda *args: None)
    scene = next(s for s in demo_module.SCRIPT if s.milestone == "classifier")
    got = demo_module._play(scene, REGISTRY.get("classifier"), workspace, REGISTRY, demo_module.SimulatedClock(0.0),
                            lambda text: None, lambda result, label: None, demo_module._no_bar)
    assert got == "1/2 tests passed; first failure: beats the majority class"
    graded.result.status, tests[1].status = "pass", "pass"
    assert demo_module._play(scene, REGISTRY.get("classifier"), workspace, REGISTRY, demo_module.SimulatedClock(0.0),
                             lambda text: None, lambda result, label: None, demo_module._no_bar) is None


@pytest.mark.parametrize("scene", [s for s in demo_module.SCRIPT if s.first_try], ids=lambda s: s.milestone)
def test_every_first_try_is_a_catalogued_mutant_that_applies(scene):
    folder = REGISTRY.folder(REGISTRY.get(scene.milestone))
    text = mutant_source(folder, scene.first_try)  # KeyError if renamed, StaleMutant if the reference moved
    assert text != (folder / "reference.py").read_text(encoding="utf-8")
