"""On a real kernel whose front end answers input() (as Jupyter's does): the CLI's questions and the
overwrite check are asked in the notebook, and the answers are what gets recorded. Nothing here grades."""

from __future__ import annotations

import json
import queue
import time

from tests.challenge.notebook.kernel import need

TIMEOUT_S = 120


def execute(client, code: str, answers: list[str]) -> tuple[list[str], str]:
    """Run ``code`` with stdin allowed, answering each input request in turn; (prompts, text shown)."""
    msg_id = client.execute(code, allow_stdin=True)
    prompts, shown, done = [], [], False
    deadline = time.monotonic() + TIMEOUT_S
    while not done and time.monotonic() < deadline:
        try:
            request = client.get_stdin_msg(timeout=0.05)
            prompts.append(request["content"]["prompt"])
            client.input(answers.pop(0) if answers else "")
        except queue.Empty:
            pass
        try:
            message = client.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        content = message["content"]
        if message["msg_type"] == "stream":
            shown.append(content["text"])
        elif message["msg_type"] in ("display_data", "execute_result"):
            shown.append(content["data"].get("text/plain", ""))
        elif message["msg_type"] == "error":
            shown.append("\n".join(content["traceback"]))
        elif message["msg_type"] == "status" and content["execution_state"] == "idle":
            done = True
    assert done, f"{code!r} did not finish in {TIMEOUT_S} s"
    return prompts, " ".join("".join(shown).split())


def test_questions_are_asked_in_the_notebook_and_answered_there(tmp_path):
    need("ipykernel")
    manager = need("jupyter_client.manager")
    kernel, client = manager.start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        execute(client, "%load_ext challenge\n%challenge init --handle ada", [])
        prompts, shown = execute(client, "%challenge start attention --no-cell", ["2", "60"])
        assert len(prompts) == 2  # click shows each question as output, then reads the answer with input()
        assert "How many hours do you expect this milestone to take?" in shown
        assert "How likely is it that your first `challenge test` passes?" in shown
        workspace = tmp_path / "submissions" / "ada"
        events = [json.loads(line) for line in (workspace / "events.jsonl").read_text().splitlines()]
        assert events[-1]["type"] == "start"
        assert (events[-1]["data"]["predict_hours"], events[-1]["data"]["predict_pass"]) == (2.0, 0.6)

        learner_file = workspace / "01_attention" / "attention.py"
        learner_file.write_text("# edited in another editor\n")
        prompts, shown = execute(client, "%%challenge test attention\nx = 1\n", ["n"])
        assert len(prompts) == 1 and "not written or loaded. Replace it with this cell? [y/N]" in prompts[0]
        assert learner_file.read_text() == "# edited in another editor\n"
        assert "left as it is and nothing was graded." in shown and "cannot ask" not in shown
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
