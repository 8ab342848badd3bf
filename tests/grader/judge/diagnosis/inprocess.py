"""The project's own learner files run in this process, through the real worker's
operations (``grader.worker.ops.LearnerHost``) and the real wire format: golden
tests of the judge without the sandbox's start-up cost. Only for trusted code
(references, alternatives, mutants of the catalogue).

``grade_in_process(milestone_folder, source)`` runs a milestone's hidden tests with
the engine's own results plugin and returns its ``TestResult`` list;
``session_for(source, learner_name)`` is a ``LearnerSession`` for calling probes.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest

from grader.engine.plugin import ResultsPlugin
from grader.engine.sandbox import Limits
from grader.fingerprint import HIDDEN_DIR
from grader.judge.session import LearnerSession, SessionConfig
from grader.messages import Response
from grader.protocol import read_message, write_message
from grader.source import LearnerSource
from grader.worker.ops import LearnerHost
from grader.worker.record import BuiltinRecord

def _wire(message: dict) -> dict:
    """``message`` as the other side of a pipe reads it."""
    pipe = io.BytesIO()
    write_message(pipe, message)
    pipe.seek(0)
    return read_message(pipe)


class InProcessWorker:
    alive = True

    def __init__(self, learner_path: Path):
        self.host = LearnerHost(learner_path=learner_path, record=BuiltinRecord([]), responses=None,
                                stop_requested=lambda: False)
        self.exports: list[str] = []

    def request(self, op: str, *, timeout=None, what: str = "", reply_bytes=None, on_progress=None, **payload):
        return Response.from_wire(_wire(self.host.dispatch(_wire({"op": op, **payload}))))

    def output_mark(self) -> tuple[int, int]:
        return 0, 0

    def output_since(self, mark) -> str:
        return ""

    def close(self) -> None:
        pass


class InProcessHost:
    def __init__(self, folder: Path):
        self.folder = folder

    def spawn(self, *, learner_name: str, **_) -> InProcessWorker:
        return InProcessWorker(self.folder / learner_name)


@contextlib.contextmanager
def session_for(source: str, learner_name: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / learner_name
        path.write_text(source, encoding="utf-8")
        config = SessionConfig(source=LearnerSource.read(path), tracked=[], limits=Limits(), call_timeout_s=60,
                               run_timeout_s=600)
        session = LearnerSession(config, host=InProcessHost(Path(folder) / "worker"))
        (Path(folder) / "worker").mkdir()
        session.ensure_worker()
        yield session


def grade_in_process(folder: str, source: str, learner_name: str, *, seed: int = 20240601) -> list:
    """The hidden tests of ``grader/hidden/<folder>`` on ``source``; the engine's TestResults, in order."""
    with session_for(source, learner_name) as session:
        plugin = ResultsPlugin(session, seed=seed)
        args = [str(HIDDEN_DIR / folder), "-c", str(HIDDEN_DIR / "pytest.ini"), "--rootdir", str(HIDDEN_DIR), "-q",
                "--import-mode=importlib", "--assert=plain", "-p", "no:cacheprovider"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pytest.main(args, plugins=[plugin])
        if plugin.collection_errors:
            raise AssertionError("\n".join(plugin.collection_errors))
        return plugin.results
