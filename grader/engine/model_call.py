"""``function(build_model(spec) [+ state], *args)`` in the sandbox (``grader.api.call_with_model``).

Used to draw what a learner's model does (``challenge viz``): the judge only
receives the value, checked by the caller; learner code never runs here.
"""

from __future__ import annotations

from typing import Any

from grader.requests import ModelCallFailed, ModelCallRequest
from grader.engine.host import SandboxHost
from grader.engine.plugin import classify
from grader.engine.sandbox import Limits
from grader.judge.errors import WorkerProblem
from grader.judge.session import LearnerSession, Remote, SessionConfig
from grader.protocol import Handle
from grader.source import LearnerSource, SourceUnreadable


def run_model_call(request: ModelCallRequest) -> Any:
    budgets = request.budgets
    try:
        source = request.source or LearnerSource.read(request.learner_file)
    except SourceUnreadable as error:
        raise ModelCallFailed("reading your file", str(error)) from None
    config = SessionConfig(source=source, tracked=[], call_timeout_s=budgets.call_timeout_s,
                           run_timeout_s=budgets.run_timeout_s,
                           limits=Limits(memory_mb=budgets.memory_mb, cpu_s=int(budgets.run_timeout_s * 2 + 60)))
    with SandboxHost(isolation=request.isolation) as host:
        session = LearnerSession(config, host=host)
        step = "starting the sandbox"
        try:
            exports = session.ensure_worker().exports or []
            if request.function not in exports:
                raise ModelCallFailed(f"finding {request.function}",
                                      f"{request.learner_file.name} has no {request.function}() to run.")
            session.seed(request.seed)
            step = "build_model(spec)"
            handle = session.call("build_model", None, [dict(request.spec)], {}, what=step)
            if not isinstance(handle, Handle):
                raise ModelCallFailed(step, f"build_model(spec) in {request.learner_file.name} did not return an "
                                            "nn.Module.")
            model = Remote(session, handle, "model")
            if request.state is not None:
                step = "loading the checkpoint into build_model(spec)"
                model.load_state_dict(dict(request.state), strict=True)
            model.eval()
            step = f"{request.function}(model, ...)"
            return session.call(request.function, None, [handle, *request.args], {}, what=step, no_grad=True)
        except WorkerProblem as problem:
            _, message, hint = classify(problem)
            raise ModelCallFailed(step, message, hint) from None
        finally:
            session.close()
