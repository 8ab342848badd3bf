"""examples/notebook.ipynb on a real kernel (nbclient + ipykernel, headless), in two versions: a wrong
first attempt at attention, then the same notebook fixed, in one kernel session. The cells show the CLI's
diagnosis and pass line, and the workspace's event log holds the same attempts as a shell session that
runs the same commands on the same code.

Needs the notebook extra (pip install -e '.[notebook]') and is in the slow set; CI's notebook block runs it
with CHALLENGE_TEST_REQUIRE_NOTEBOOK=1, which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.challenge.notebook.kernel import need, output_html, output_text

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "notebook.ipynb"
REFERENCE = REPO / "milestones" / "01_attention" / "reference.py"
SEED = 1234  # the same shapes and values in the notebook and in the shell session
MAGIC = f"%%challenge test attention --seed {SEED}"
KERNEL_TIMEOUT_S = 600


def right_code() -> str:
    return REFERENCE.read_text()


def wrong_code() -> str:
    """The reference without its 1/sqrt(d_k): a learner's plausible first attempt."""
    code = right_code()
    wrong = code.replace(" / math.sqrt(q.size(-1))", "")
    assert wrong != code, "the reference changed: update the wrong attempt's edit"
    return wrong


def attention_cell_index(nb) -> int:
    found = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and cell.source.startswith("%%challenge test attention")]
    assert len(found) == 1, "examples/notebook.ipynb must have exactly one %%challenge test attention cell"
    return found[0]


def with_attention(nb, code: str):
    import copy

    version = copy.deepcopy(nb)
    version.cells[attention_cell_index(nb)].source = f"{MAGIC}\n{code}"
    return version


def shell(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    return subprocess.run([sys.executable, "-m", "challenge", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=KERNEL_TIMEOUT_S)


def shell_session(root: Path) -> None:
    """The notebook's commands, typed in a shell, with the learner's file edited in between."""
    root.mkdir()
    learner_file = root / "submissions" / "ada" / "01_attention" / "attention.py"
    for args, code in ((("init", "--handle", "ada"), None),
                       (("start", "attention", "--predict-hours", "2", "--predict-pass", "60%"), None),
                       (("test", "attention", "--seed", str(SEED)), wrong_code()),
                       (("status",), None), (("report",), None),
                       (("test", "attention", "--seed", str(SEED)), right_code()),
                       (("status",), None), (("report",), None)):
        if code is not None:
            learner_file.write_text(code)
        done = shell(root, *args)
        assert done.returncode in (0, 1), f"challenge {' '.join(args)}: {done.stdout}\n{done.stderr}"


def attempts(workspace: Path) -> list[tuple]:
    """The event log as the record of a session: what happened, in order, without its times."""
    kept = ("status", "passed", "total", "seed", "learner_file_sha256", "learner_file", "predict_hours",
            "predict_pass", "handle")
    events = [json.loads(line) for line in (workspace / "events.jsonl").read_text().splitlines() if line.strip()]
    return [(e["type"], e.get("milestone"), tuple((k, e["data"][k]) for k in kept if k in e.get("data", {})))
            for e in events]


def results_documents(workspace: Path) -> list[dict]:
    found = sorted((workspace / "01_attention" / "results").glob("*.json"))
    return [json.loads(path.read_text()) for path in found]


def verdicts(document: dict) -> list[tuple]:
    return [(t["name"], t["status"], (t.get("diagnosis") or {}).get("mistake")) for t in document["tests"]]


def interrupt_a_run(client, nbformat, index: int):
    """A cell whose code never finishes loading, interrupted (as the notebook's stop button does) once the
    grading runs; then the right code again. Returns both cells."""
    hanging = nbformat.v4.new_code_cell(f"{MAGIC}\nimport time\ntime.sleep(600)\n")
    after = nbformat.v4.new_code_cell(f"{MAGIC} --overwrite\n{right_code()}")  # a fresh sandbox grades it
    client.nb.cells += [hanging, after]

    def interrupt_when_grading() -> None:
        deadline = time.monotonic() + KERNEL_TIMEOUT_S
        while time.monotonic() < deadline and "in a sandbox" not in output_text(hanging):
            time.sleep(0.1)
        time.sleep(2)  # inside the run: the worker is importing the file (the call limit is 20 s)
        asyncio.run(client.km.interrupt_kernel())  # what the notebook's stop button asks of the kernel manager

    import threading

    interrupter = threading.Thread(target=interrupt_when_grading, daemon=True)
    interrupter.start()
    client.execute_cell(hanging, len(client.nb.cells) - 2)
    interrupter.join(timeout=KERNEL_TIMEOUT_S)
    client.execute_cell(after, len(client.nb.cells) - 1)
    return hanging, after


@pytest.mark.slow  # 40-130 s (a kernel, five gradings, a shell session); CI's notebook block runs it
def test_example_notebook_wrong_then_fixed_on_a_real_kernel(tmp_path):
    nbformat = need("nbformat")
    nbclient = need("nbclient")
    need("ipykernel")
    nb = nbformat.read(EXAMPLE, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        "examples/notebook.ipynb is shipped with its outputs cleared"
    index = attention_cell_index(nb)
    wrong, fixed = with_attention(nb, wrong_code()), with_attention(nb, right_code())

    folder = tmp_path / "notebook"
    folder.mkdir()
    client = nbclient.NotebookClient(wrong, timeout=KERNEL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    started = time.monotonic()
    with client.setup_kernel():
        for i, cell in enumerate(wrong.cells):  # the whole notebook with the wrong attempt
            if cell.cell_type == "code":
                client.execute_cell(cell, i)
        client.nb = fixed
        for i, cell in enumerate(fixed.cells[index:], start=index):  # fixed: that cell again, and what follows
            if cell.cell_type == "code":
                client.execute_cell(cell, i)
        print(f"notebook session: {time.monotonic() - started:.1f} s")
        workspace = folder / "submissions" / "ada"
        record, documents = attempts(workspace), results_documents(workspace)
        saved = (workspace / "01_attention" / "attention.py").read_text()
        interrupted, after = interrupt_a_run(client, nbformat, index)

    assert [d["status"] for d in documents] == ["fail", "pass"]
    failed = output_text(wrong.cells[index])
    # the diagnosis box the CLI draws, from the attempt's own results document, and the line that ends it
    titles = {t["diagnosis"]["summary"] for t in documents[0]["tests"] if t.get("diagnosis")}
    assert titles and all(title in " ".join(failed.split()) for title in titles), failed
    assert "no 1/sqrt(d_k) scaling of the scores" in failed
    assert "Fix first:" in failed and "\x1b[" not in failed
    # what to do next in a notebook: the cell again, not a shell command
    assert "Then: run this cell again (%%challenge test attention)" in " ".join(failed.split()), failed
    assert "<pre" in output_html(wrong.cells[index])  # rendered for the notebook: HTML, not escape codes
    passed = " ".join(output_text(fixed.cells[index]).split())
    total = len(documents[1]["tests"])
    assert f"attention passed ({total}/{total} tests" in passed, passed
    assert saved == right_code()
    assert "attention" in output_text(fixed.cells[-1])  # the report, after the pass

    # the same record as a shell session: the same events in the same order, the same verdicts
    shell_root = tmp_path / "shell"
    shell_session(shell_root)
    shell_workspace = shell_root / "submissions" / "ada"
    assert record == attempts(shell_workspace)
    assert [verdicts(d) for d in documents] == [verdicts(d) for d in results_documents(shell_workspace)]

    # interrupting the kernel stops the run as Ctrl-C does: logged as interrupted, not as a failure
    assert "logged as interrupted" in " ".join(output_text(interrupted).split()), output_text(interrupted)
    later = [dict(data)["status"] for kind, _, data in attempts(workspace)[len(record):] if kind == "test"]
    assert later == ["interrupted", "pass"]
    assert "attention passed" in output_text(after)  # the kernel goes on, and so does grading


@pytest.fixture(autouse=True)
def _no_data_needed(monkeypatch, tmp_path):
    """Attention reads no data; an empty cache keeps the kernel and the shell off the developer's."""
    monkeypatch.setenv("CHALLENGE_DATA_CACHE", str(tmp_path / "data-cache"))
