"""The magics in-process, on IPython's InteractiveShell: flags parsed by the CLI's own typer commands, the
workspace default, the stub in the next cell, and the overwrite check (nothing here grades: fast)."""

from __future__ import annotations

import json

import pytest

from challenge.record.bookkeeping import start_milestone
from challenge.record.workspace import init_workspace
from tests.challenge.notebook.kernel import need

need("IPython")


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "challenge")
    yield ip
    ip.run_line_magic("unload_ext", "challenge")  # and with it the sandbox it keeps warm for its tests
    InteractiveShell.clear_instance()


@pytest.fixture
def magics(shell):
    return shell.magics_manager.registry["ChallengeMagics"]


@pytest.fixture
def started(tmp_path, registry):
    workspace = init_workspace(handle="ada", path=tmp_path / "ws")
    start_milestone(workspace=workspace, registry=registry, milestone=registry.get("attention"))
    return workspace


def events(workspace) -> list[str]:
    return [json.loads(line)["type"] for line in (workspace.root / "events.jsonl").read_text().splitlines()]


def test_commands_and_their_flags_are_the_clis(shell, magics, tmp_path, capsys):
    root = tmp_path / "mine"
    shell.run_line_magic("challenge", f"init --handle ada --workspace {root}")
    assert magics.last_exit_code == 0 and (root / "workspace.json").is_file()
    shell.run_line_magic("challenge", "status")  # no --workspace: the one named before
    assert magics.last_exit_code == 0
    shown = capsys.readouterr()
    assert f"Workspace ada at {root.resolve()}" in " ".join(shown.out.split())
    shell.run_line_magic("challenge", "status --no-such-flag")
    assert magics.last_exit_code == 2 and "No such option" in capsys.readouterr().err
    shell.run_line_magic("challenge", "start nonsense")
    assert magics.last_exit_code == 2 and "No milestone called 'nonsense'" in capsys.readouterr().err


def test_start_puts_the_file_under_a_test_magic_into_the_next_cell(shell, magics, tmp_path, registry):
    workspace = init_workspace(handle="ada", path=tmp_path / "ws")
    shell.run_line_magic("challenge", f"start attention --predict-hours 2 --predict-pass 50% -w {workspace.root}")
    assert magics.last_exit_code == 0
    stub = (registry.folder(registry.get("attention")) / "stub.py").read_text()
    assert shell.rl_next_input == f"%%challenge test attention\n{stub}"
    shell.rl_next_input = None
    shell.run_line_magic("challenge", f"start attention --no-cell -w {workspace.root}")
    assert magics.last_exit_code == 0 and shell.rl_next_input is None


def test_a_file_changed_elsewhere_is_not_overwritten_without_asking(shell, magics, started, capsys):
    path = started.root / "01_attention" / "attention.py"
    path.write_text("# edited in another editor\n")
    questions = []
    magics.ask = lambda question: questions.append(question)  # a kernel that cannot ask: None
    before = events(started)
    shell.run_cell_magic("challenge", f"test attention -w {started.root}", "x = 1\n")
    assert path.read_text() == "# edited in another editor\n"
    assert magics.last_exit_code == 1 and len(questions) == 1
    assert "test" not in events(started)[len(before):]  # nothing graded, no attempt
    said = " ".join(capsys.readouterr().err.split())
    assert "nothing was graded" in said and "%%challenge test attention -w" in said and "--overwrite" in said


def test_unloading_stops_keeping_a_sandbox_warm(shell):
    from challenge.feedback import grading

    assert grading._kept_warm is not None
    shell.run_line_magic("unload_ext", "challenge")
    assert grading._kept_warm is None
    shell.run_line_magic("load_ext", "challenge")


def test_a_cell_is_saved_only_by_test_or_train(shell, magics, started, capsys):
    shell.run_cell_magic("challenge", f"status -w {started.root}", "x = 1\n")
    assert magics.last_exit_code == 2 and "test or train only" in capsys.readouterr().err
    shell.run_cell_magic("challenge", f"test attention --no-such-flag -w {started.root}", "x = 1\n")
    assert magics.last_exit_code == 2 and "No such option" in capsys.readouterr().err
    assert (started.root / "01_attention" / "attention.py").read_text() != "x = 1\n"  # parsed before any write


def test_loading_says_when_the_full_sandbox_cannot_start(monkeypatch, capsys):
    """As in a hosted notebook that forbids user namespaces: said once on loading (each result and the report
    say it too: tests/challenge/test_api.py, tests/challenge/report/test_sandbox_label.py)."""
    from IPython.core.interactiveshell import InteractiveShell

    from grader.engine import sandbox

    monkeypatch.setattr(sandbox, "bubblewrap_prefix", lambda: ())
    monkeypatch.setattr(sandbox, "namespace_prefix", lambda: ())
    ip = InteractiveShell.instance()
    try:
        ip.run_line_magic("load_ext", "challenge")
        said = " ".join(capsys.readouterr().out.split())
        assert "the full sandbox (bubblewrap) cannot start here" in said and "no namespaces either" in said
        assert "challenge verify" in said
    finally:
        ip.run_line_magic("unload_ext", "challenge")
        InteractiveShell.clear_instance()


def test_the_training_bar_is_one_output_updated_in_place(monkeypatch):
    """In a notebook the bar is one display, updated (at most four times a second) and full at the end."""
    import IPython.display

    from challenge.notebook import progress
    from challenge.training.bar import training_bar

    shown, updates = [], []

    class Handle:
        display_id = "bar-1"

    def display(bundle, raw, display_id):
        shown.append(bundle)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(IPython.display, "update_display", lambda bundle, raw, display_id: updates.append(
        (display_id, bundle)))
    clock = iter(range(100, 1000))  # each redraw check one "second" later: none is throttled away
    monkeypatch.setattr(progress.time, "monotonic", lambda: float(next(clock)))

    class JupyterConsole:
        is_jupyter = True

    with training_bar(JupyterConsole(), label="training gpt", budget_s=10) as bar:
        bar.on_progress({"step": 3, "loss": 2.5, "elapsed_s": 4.0, "tokens_per_s": 100.0})
        bar.on_stop_requested()
    assert len(shown) == 1 and all(display_id == "bar-1" for display_id, _ in updates)
    assert 'value="4"' in updates[0][1]["text/html"] and "step 3 · loss 2.500" in updates[0][1]["text/plain"]
    assert "interrupt again to abandon" in updates[1][1]["text/plain"]
    assert 'value="10"' in updates[-1][1]["text/html"]  # full when the run ends
