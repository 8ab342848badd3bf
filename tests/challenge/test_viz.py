"""`challenge viz`: the reference solution of attention_viz in a workspace, drawn at random init and
from a checkpoint written by the harness's own writer (no training), plus the usage errors."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from challenge.training.checkpoints import save_checkpoint
from challenge.record.eventlog import read_log
from challenge.taskdata import cache_dir_of, prepare_data
from challenge.record.workspace import init_workspace
from grader.results import TrainOutcome
from milestones.registry import load_registry
from tests.data_sets import FIXTURE_DATA

REFERENCE = Path(__file__).resolve().parents[2] / "milestones" / "07_attention_viz" / "reference.py"
TEXT = "Oil <b>rose</b> 5%"
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//""", re.I)


@pytest.fixture(scope="module", autouse=True)
def tiny_data():
    """The tiny copies of the data sets in the original formats: a character vocabulary is all viz needs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHALLENGE_DATA_DIR", str(FIXTURE_DATA))
        yield


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace with the attention_viz reference as the learner's file and the task's data cached."""
    workspace = init_workspace(handle="ada", path=tmp_path_factory.mktemp("viz") / "ws")
    registry = load_registry()
    milestone = registry.get("attention_viz")
    folder = workspace.milestone_dir(milestone.folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REFERENCE, folder / milestone.learner_file)
    task = prepare_data(milestone, cache_dir=cache_dir_of(workspace))
    return SimpleNamespace(workspace=workspace, registry=registry, milestone=milestone, task=task)


def viz(ws, *args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(["viz", *args, "--workspace", str(ws.workspace.root)])
    return done.value.code


def test_random_init_draws_png_and_self_contained_html(ws, capsys):
    assert viz(ws, "attention_viz", "--text", TEXT, "--random-init") == 0
    captured = capsys.readouterr()
    printed = " ".join((captured.out + captured.err).split())
    assert "4 layers × 4 heads" in printed and "random init" in printed and "[UNK] to the model: '%'" in printed
    folder = ws.workspace.milestone_dir(ws.milestone.folder) / "viz"
    from PIL import Image

    with Image.open(folder / "attention.png") as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 400
        image.verify()
    page = (folder / "attention.html").read_text(encoding="utf-8")
    assert not REMOTE.search(page), "the page must not fetch anything"
    assert page.count('src="data:image/png;base64,') == 4  # one picture per layer
    for label in ("O", "i", "l", "␣", "&lt;", "b", "&gt;", "5", "%"):  # the tokens, whitespace made visible
        assert f">{label}</span>" in page, label
    assert "<b>rose" not in page, "the text must be escaped"
    assert "Layer 3" in page and "random init" in page
    activity = [e for e in read_log(ws.workspace.root / "events.jsonl").events if e.type == "activity"]
    assert any(e.data.get("command") == "viz" for e in activity)


def _reference():
    loaded = importlib.util.spec_from_file_location("attention_viz_reference", REFERENCE)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def test_checkpoint_of_the_prerequisite_is_drawn(ws, tmp_path):
    """A gpt checkpoint (the harness's writer, no training) is found and loaded: the drawn patterns are
    that model's, computed here in-process with the same weights."""
    import torch

    from challenge.viz import tokenise, visualise

    reference = _reference()
    torch.manual_seed(7)
    model = reference.build_model(ws.task.spec)
    with torch.no_grad():
        for block in model.blocks:  # weights far from random init, so a forgotten load would show
            block.attn.qkv.weight.mul_(40)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gpt = ws.registry.get("gpt")
    outcome = TrainOutcome(status="trained", state=state, stopped_by="budget", elapsed_s=1.0, tokens_seen=10,
                           history=[{"step": 1, "loss": 4.0, "elapsed_s": 1.0, "tokens": 10}])
    save_checkpoint(workspace=ws.workspace, milestone=gpt, outcome=outcome, task=ws.task,
                    budget_s=1.0, device="cpu", seed=0)

    result = visualise(workspace=ws.workspace, registry=ws.registry, milestone=ws.milestone, text=TEXT,
                       output=tmp_path / "out")
    assert result.patterns.source.startswith("gpt checkpoint")
    assert result.patterns.warnings == ["not in the vocabulary, shown as [UNK] to the model: '%'"]
    assert result.png.is_file() and result.html.parent == tmp_path / "out"
    ids, labels, _, _ = tokenise(ws.task, TEXT)
    want = reference.attention_patterns(model, torch.tensor([ids]))[:, 0]  # (L, H, T, T)
    got = torch.tensor(result.patterns.weights)
    assert got.shape == want.shape and result.patterns.labels == labels
    assert torch.allclose(got, want, atol=1e-5)
    assert float((want - torch.ones_like(want).tril() / torch.arange(1, len(ids) + 1)[:, None]).abs().max()) > 0.1


def test_a_checkpoint_of_other_data_is_refused(ws, capsys):
    other = SimpleNamespace(name=ws.task.name, fingerprint="other data", spec=ws.task.spec)
    outcome = TrainOutcome(status="trained", state={"w": torch_zeros()}, stopped_by="budget", elapsed_s=1.0)
    save_checkpoint(workspace=ws.workspace, milestone=ws.registry.get("gpt"), outcome=outcome, task=other,
                    budget_s=1.0, device="cpu", seed=0)
    assert viz(ws, "attention_viz", "--text", TEXT) == 2
    assert "different data or tokenisation" in " ".join(capsys.readouterr().err.split())


def torch_zeros():
    import torch

    return torch.zeros(1)


@pytest.mark.parametrize("args, message", [
    (["attention_viz", "--text", "   "], "--text is empty"),
    (["attention", "--text", "Oil"], "has no text to draw attention over"),
    (["attention_viz", "--text", "Oil", "--checkpoint-from", "attention"], "does not train a model"),
    (["attention_viz", "--text", "Oil", "--random-init", "--checkpoint-from", "gpt"], "contradict"),
])
def test_usage_errors_are_explained(ws, capsys, args, message):
    assert viz(ws, *args) == 2
    captured = capsys.readouterr()
    assert message in " ".join(captured.err.split()) and "Running your attention_patterns" not in captured.out


def test_a_file_without_attention_patterns_is_explained(ws, capsys):
    gpt = ws.registry.get("gpt")
    folder = ws.workspace.milestone_dir(gpt.folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / gpt.learner_file).write_text("import torch\n\ndef build_model(spec):\n    return torch.nn.Linear(1, 1)\n")
    assert viz(ws, "gpt", "--text", "Oil", "--random-init") == 1
    assert "has no attention_patterns" in " ".join(capsys.readouterr().err.split())
