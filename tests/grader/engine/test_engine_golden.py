"""Golden-file tests of the grading engine, exercism style.

Each folder under ``fixtures/`` holds a learner file for milestone 01_attention
(``attention.py``) and the expected results document (``expected.json``),
normalised: per test its name, status and the first line of its message with
digits masked; the overall status and the top-level message. Durations, seeds,
hashes and absolute paths are dropped. Each fixture runs once (fixed seed, small per-call
timeout) through one warm sandbox, as ``challenge test`` grades, and the result
is compared to the golden file; the slow set grades each again in a cold
sandbox of its own, as ``verify`` does, against the same file. Regenerate after an intended change with::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/grader/engine/test_engine_golden.py

Most fixtures are hostile: each must be neutralised with a named reason in the
results, never hang the suite, never crash the judge and leave nothing behind
(files, processes, scratch folders, cgroups). Fixtures that need a path or a
port use ``@@PLACEHOLDERS@@`` that are filled in per session (unique paths) and
mapped back when normalising.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from challenge.run_requests import grade_request
from grader import api
from grader.engine.cgroup import _own_pids_cgroups
from grader.results import OUTPUT_CAP, RunResult
from milestones import load_registry

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[3]
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "attention.py").is_file())
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SEED = 7
CALL_TIMEOUT_S = 4.0  # small, so that the infinite loop costs seconds; ample for every honest call
# Fixtures that move tens of megabytes by design (a 20 MB print, a reply over the size limit). How long the bytes
# take depends on the machine's load, and what they test (output capped, a reply refused unread) must not: on a
# busy machine 4 s ran out first and the golden results became timeouts. They get the milestone's own per-call
# limit, the one a learner's run gets.
HEAVY_IO = {"big_output", "oversized_reply",
            # forking until the run's task limit, then every copy returning, also takes longer when the machine is
            # busy; past a call's limit the later calls of the same function are not run (grader.judge.not_run), and
            # what this fixture tests (the copies never answer a request) would not be tested at all
            "fork_bomb_copies"}
RUN_WALL_LIMIT_S = 90  # no single fixture may take longer (a hang would be far longer)
SECRET = "xyz-" + uuid.uuid4().hex

# Engine bugs with a fix pending in a file this suite does not own: the test states the wanted behaviour.
KNOWN_BUGS: dict[str, str] = {}
# Fixtures that only a real sandbox neutralises (Landlock, namespaces): skipped, with the reason, elsewhere.
NEEDS_ISOLATION = {"env_secret", "fork_bomb", "fork_bomb_copies", "network", "orphan_processes", "read_home",
                   "write_outside_scratch", "unix_socket"}
# Fixtures whose golden file assumes a cap on the worker's tasks (a pids cgroup, or RLIMIT_NPROC when not root).
NEEDS_TASK_LIMIT = {"fork_bomb", "fork_bomb_copies"}
# Whether a fork bomb meets the task cap or the call timeout first depends on how fast the machine forks (its
# load): their golden files pin names and statuses; the tests below pin what the bomb must not achieve.
LOAD_DEPENDENT = {"fork_bomb", "fork_bomb_copies"}
HARNESS_ERRORS: dict[str, str] = {}
# The slow set: tens of seconds each on a busy machine, and they use up the task limit while they run.
SLOW_CASES = {"fork_bomb", "fork_bomb_copies"}


# -- running the fixtures --------------------------------------------------------------------


class Engine:
    """Runs each fixture at most once per session, with the probes hostile fixtures need."""

    def __init__(self, root: Path):
        self.token = uuid.uuid4().hex[:12]
        self.root = root
        self.scratch_parent = root / "scratch"  # where the judge's tempfile puts worker folders
        self.scratch_parent.mkdir()
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.tcp.setblocking(False)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.setblocking(False)
        home = tempfile.NamedTemporaryFile("w", dir=Path.home(), prefix=".challenge-probe-", delete=False)
        home.write(f"private key {self.token}")
        home.close()
        self.home_file = Path(home.name)
        self.escape_targets = [Path(tempfile.gettempdir()) / f"challenge-escape-{self.token}",
                               REPO / f".challenge-escape-{self.token}",
                               REPO / "grader" / "hidden" / f".challenge-escape-{self.token}"]
        self.socket_path = Path("/tmp") / f"challenge-probe-{self.token}.sock"  # the host's /tmp, like tmux's socket
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(str(self.socket_path))
        self.unix.listen()
        self.unix.setblocking(False)
        sleep_base = 900_000 + int(self.token[:5], 16) % 90_000
        self.sleep_args = [str(sleep_base), str(sleep_base + 1)]
        self.placeholders = {
            "@@TMP_TARGET@@": str(self.escape_targets[0]), "@@REPO_TARGET@@": str(self.escape_targets[1]),
            "@@HIDDEN_TARGET@@": str(self.escape_targets[2]), "@@PORT@@": str(self.port),
            "@@HOME_TARGET@@": str(self.home_file),
            "@@REFERENCE@@": str(REPO / "milestones" / "01_attention" / "reference.py"),
            "@@SLEEP1@@": self.sleep_args[0], "@@SLEEP2@@": self.sleep_args[1],
            "@@SOCKET@@": str(self.socket_path),
        }
        self.results: dict[str, tuple[RunResult, float]] = {}
        # One warm sandbox for the fixtures, as `challenge test` and `watch` grade; the fork bombs, which use up
        # a sandbox's task limit, get cold ones. The slow set runs every fixture cold against the same files.
        self.warm = api.WarmGrader()
        registry = load_registry()
        self.registry, self.milestone = registry, registry.get("attention")

    def request(self, case: str):
        """The grading request of a fixture, its placeholders filled in (the learner file written once)."""
        learner = self.root / "learners" / case / "attention.py"
        if not learner.is_file():
            source = (FIXTURES / case / "attention.py").read_text()
            for placeholder, value in self.placeholders.items():
                source = source.replace(placeholder, value)
            learner.parent.mkdir(parents=True)
            learner.write_text(source)
        request = grade_request(registry=self.registry, milestone=self.milestone, learner_file=learner,
                                passed=set(), seed=SEED)
        call_timeout_s = request.budgets.call_timeout_s if case in HEAVY_IO else CALL_TIMEOUT_S
        budgets = dataclasses.replace(request.budgets, call_timeout_s=call_timeout_s, run_timeout_s=RUN_WALL_LIMIT_S)
        return dataclasses.replace(request, budgets=budgets)

    def run(self, case: str) -> tuple[RunResult, float]:
        if case in NEEDS_ISOLATION and not self.isolated:
            pytest.skip(f"{case} needs the full sandbox, and this machine gives: {self.sandbox}")
        if case in NEEDS_TASK_LIMIT and "at most" not in self.sandbox.get("processes", ""):
            pytest.skip(f"{case} needs a cap on the worker's tasks: {self.sandbox.get('processes')}")
        if case not in self.results:
            request = self.request(case)
            started = time.monotonic()
            result = api.grade(request) if case in SLOW_CASES else self.warm.grade(request)
            self.results[case] = (result, time.monotonic() - started)
        return self.results[case]

    @property
    def sandbox(self) -> dict:
        return self.run("reference_passes")[0].sandbox

    @property
    def isolated(self) -> bool:
        return bool(self.sandbox.get("isolated"))

    def unmap(self, text: str) -> str:
        for placeholder, value in self.placeholders.items():
            text = text.replace(value, placeholder)
        return text.replace(str(REPO), "@@REPO@@")

    def close(self) -> None:
        self.warm.close()
        self.tcp.close()
        self.udp.close()
        self.unix.close()
        self.socket_path.unlink(missing_ok=True)
        self.home_file.unlink(missing_ok=True)
        for target in self.escape_targets:  # only there if a test below already failed
            target.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    old_tempdir, old_secret = tempfile.tempdir, os.environ.get("CHALLENGE_TEST_SECRET")
    engine = Engine(tmp_path_factory.mktemp("engine"))
    tempfile.tempdir = str(engine.scratch_parent)  # worker scratch folders go here: easy to check for leaks
    os.environ["CHALLENGE_TEST_SECRET"] = SECRET  # the judge has a secret the learner must not see
    try:
        yield engine
    finally:
        tempfile.tempdir = old_tempdir
        if old_secret is None:
            os.environ.pop("CHALLENGE_TEST_SECRET", None)
        else:
            os.environ["CHALLENGE_TEST_SECRET"] = old_secret
        engine.close()


# -- normalising and comparing ---------------------------------------------------------------


def key(message: str, engine: Engine) -> str:
    """The part of a message a golden file pins down: its first line, paths unmapped, numbers masked."""
    first = engine.unmap(message.strip()).split("\n", 1)[0]
    return re.sub(r"(?<![A-Za-z_])\d+", "N", first)[:160]  # (7, 9, 2) -> (N, N, N); float64 stays


def normalise(result: RunResult, engine: Engine) -> dict:
    return {"status": result.status, "message": key(result.message, engine),
            "tests": [{"name": t.name, "status": t.status, "message": key(t.message, engine)} for t in result.tests]}


def _fork_bomb_copies_wanted(reference: dict) -> dict:
    """Only the tests that set the bomb off (float32, no mask) fail; the copies must not answer later requests."""
    wanted = json.loads(json.dumps(reference)) | {"status": "fail"}
    for test in wanted["tests"]:
        name = test["name"]
        if name == "uses no forbidden built-in":  # os.fork is outside the milestone file's allow-list
            test.update(status="fail", message="While built-ins are forbidden here, a milestone file must stay inside "
                                               "plain Python in which every call is spelled out, so that what it "
                                               "calls can be read:")
        if name.endswith("float32]") and ("no mask" in name or name.startswith("SelfAttention equals")):
            test.update(status="error", message="Your code raised RuntimeError: fork bomb stopped: [Errno N] "
                                                "Resource temporarily unavailable")
    return wanted


# For a known bug the golden file states the wanted result, derived from the reference's run.
WANTED = {"fork_bomb_copies": _fork_bomb_copies_wanted}


def golden_params() -> list:
    """Every fixture; those with a known engine bug are strict xfails (their golden file states the wanted result)."""
    return [pytest.param(case, id=case, marks=([pytest.mark.xfail(reason=KNOWN_BUGS[case], strict=True)]
                                               if case in KNOWN_BUGS and not UPDATE else [])
                         + ([pytest.mark.slow] if case in SLOW_CASES else [])) for case in CASES]


@pytest.mark.timeout(RUN_WALL_LIMIT_S + 30)
@pytest.mark.parametrize("case", golden_params())
def test_results_match_the_golden_file(engine, case):
    path = FIXTURES / case / "expected.json"
    if UPDATE and case in KNOWN_BUGS:
        wanted = WANTED[case](normalise(engine.run("reference_passes")[0], engine))
        path.write_text(json.dumps(wanted, indent=2, ensure_ascii=False) + "\n")
        pytest.skip("wrote the wanted result of a known bug")
    result, wall = engine.run(case)
    got = normalise(result, engine)
    if UPDATE:
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert path.is_file(), f"no golden file for {case}: run with UPDATE_GOLDEN=1"
    expected = json.loads(path.read_text())
    assert got["status"] == expected["status"]
    assert got["message"] == expected["message"]
    assert [(t["name"], t["status"]) for t in got["tests"]] == [(t["name"], t["status"]) for t in expected["tests"]]
    if case not in LOAD_DEPENDENT:
        assert got == expected
    assert wall < RUN_WALL_LIMIT_S + (30 if case in LOAD_DEPENDENT else 0)


@pytest.mark.slow
@pytest.mark.timeout(RUN_WALL_LIMIT_S + 30)
@pytest.mark.parametrize("case", [c for c in CASES if c not in SLOW_CASES and c not in KNOWN_BUGS])
def test_a_cold_sandbox_gives_the_golden_results(engine, case):
    """`verify` and `train` start a sandbox per run: every fixture graded cold matches the same golden file."""
    if case in NEEDS_ISOLATION and not engine.isolated:
        pytest.skip(f"{case} needs the full sandbox, and this machine gives: {engine.sandbox}")
    got = normalise(api.grade(engine.request(case)), engine)
    expected = json.loads((FIXTURES / case / "expected.json").read_text())
    assert [(t["name"], t["status"]) for t in got["tests"]] == [(t["name"], t["status"]) for t in expected["tests"]]
    if case not in LOAD_DEPENDENT:
        assert got == expected


@pytest.mark.timeout(RUN_WALL_LIMIT_S + 30)
@pytest.mark.parametrize("case", [pytest.param(c, marks=([pytest.mark.xfail(reason=HARNESS_ERRORS[c], strict=True)]
                                                         if c in HARNESS_ERRORS else [])
                                               + ([pytest.mark.slow] if c in SLOW_CASES else [])) for c in CASES])
def test_every_problem_has_a_named_reason(engine, case):
    """Nothing fails silently and nothing is blamed on the harness: every non-pass says why."""
    result, _ = engine.run(case)
    if result.status == "error" and not result.tests:
        assert result.message.startswith("Your file could not be loaded.")
    for test in result.tests:
        if test.status != "pass":
            assert test.message.strip(), test.name
            assert "Harness error" not in test.message, f"{test.name}: {test.message}"


# -- what each hostile fixture must not achieve ---------------------------------------------


def _hidden(result: RunResult) -> list:
    """The hidden tests' results, without the built-in rule's (its own result, first)."""
    return [t for t in result.tests if t.family != "rule"]


def _outputs(result: RunResult) -> list[str]:
    return [t.output for t in _hidden(result)]


def _dump(result: RunResult) -> str:
    return json.dumps(result.to_dict())


def _processes_with(markers: list[str]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in argv for marker in markers):
            found.append(f"{entry.name}: {argv[:200]}")
    return found


def test_reference_passes_every_test(engine):
    result, _ = engine.run("reference_passes")
    assert result.status == "pass" and result.tests and result.passed == len(result.tests)


def test_infinite_loop_times_out_one_test_and_the_tests_that_call_it_again_are_not_run(engine):
    result, wall = engine.run("infinite_loop")
    statuses = [t.status for t in result.tests]
    timed_out = [i for i, t in enumerate(result.tests) if t.message.startswith("Time limit")]
    assert len(timed_out) == 1 and statuses[timed_out[0]] == "error"
    assert f"{CALL_TIMEOUT_S:g} s" in result.tests[timed_out[0]].message
    hung_in = result.tests[timed_out[0]].name
    not_run = [t for t in result.tests if t.message.startswith("Not run:")]
    assert not_run and all(t.status == "error" for t in not_run)  # nothing was checked: never a pass
    assert all(f"your `SelfAttention.forward` did not return within {CALL_TIMEOUT_S:g} s in the test “{hung_in}”"
               in t.message for t in not_run)
    before = result.tests[:timed_out[0]]
    assert not any(t.message.startswith("Not run:") for t in before)
    # the tests that do not call forward ran in a fresh worker, and pass
    assert all(t.status == "pass" for t in result.tests if t not in not_run and t.name != hung_in)
    assert wall < 3 * CALL_TIMEOUT_S + 20


def test_a_loop_in_a_function_is_waited_out_once_per_callable_that_hangs(engine):
    """Every test calls the looping function (directly, or through forward): two time limits, never twenty."""
    result, _ = engine.run("loop_in_function")
    hidden = _hidden(result)
    timed_out = [t for t in hidden if t.message.startswith("Time limit")]
    not_run = [t for t in hidden if t.message.startswith("Not run:")]
    assert [t.message.split(" did not finish")[0] for t in timed_out] == [
        "Time limit: scaled_dot_product_attention(...)", "Time limit: SelfAttention.forward"]
    assert len(timed_out) + len(not_run) == len(hidden) and len(not_run) >= 10
    assert all(t.status == "error" for t in timed_out + not_run) and result.status == "fail"
    assert {t.message.split("`")[1] for t in not_run} == {"scaled_dot_product_attention", "SelfAttention.forward"}
    assert all("walking over the features" in t.output for t in timed_out), [t.output for t in timed_out]
    assert not any(t.output for t in not_run), [t.output for t in not_run]  # shown with the test that hung only


def test_the_run_budget_is_a_total_and_the_tests_after_it_are_not_run(engine):
    request = engine.request("loop_in_function")
    budget = CALL_TIMEOUT_S + 1  # spent by the first time limit and the start of the next test
    result = engine.warm.grade(dataclasses.replace(request, budgets=dataclasses.replace(request.budgets,
                                                                                       run_timeout_s=budget)))
    hidden = _hidden(result)
    spent = [t for t in hidden if t.message == f"Not run: the whole run's time budget ({budget:g} s) was spent "
                                               "before this test started."]
    assert spent and all(t.status == "error" for t in hidden) and result.status == "fail"
    assert hidden.index(spent[0]) + len(spent) == len(hidden)  # every test after it, none before
    assert len([t for t in hidden if t.message.startswith("Time limit")]) <= 2


def test_memory_hog_is_a_clean_error(engine):
    result, wall = engine.run("memory_hog")
    hogging = [t for t in result.tests if t.status != "pass"]
    assert hogging and all("allocate" in t.message for t in hogging)
    assert wall < 30


@pytest.mark.parametrize("case, reason", [("sys_exit", "sys.exit(3)"), ("os_exit", "exited with status 0"),
                                          ("segfault", "segmentation fault")])
def test_exits_and_crashes_are_named(engine, case, reason):
    result, _ = engine.run(case)
    bad = [t for t in _hidden(result) if t.status != "pass"]
    assert bad and all(reason in t.message.lower() for t in bad)
    assert any(t.status == "pass" for t in _hidden(result))  # the worker was replaced for the tests after


def test_megabytes_of_output_are_capped_and_do_not_spill_into_later_tests(engine):
    result, _ = engine.run("big_output")
    assert result.status == "pass"
    first, *rest = _outputs(result)
    assert first.startswith("[output truncated:") and "spam spam" in first
    assert len(first) <= OUTPUT_CAP + 100
    assert not any("truncated" in output for output in rest)
    assert len(_dump(result)) < 50_000


def _refused(message: str) -> bool:
    """Not mounted (the strong sandbox), read-only (mounted), or denied (Landlock in the fallback)."""
    return any(word in message for word in ("PermissionError", "FileNotFoundError", "Read-only file system"))


def test_writes_outside_the_scratch_folder_fail(engine):
    result, _ = engine.run("write_outside_scratch")
    tests = [t for t in result.tests if t.family != "rule"]
    assert tests and all(t.status == "error" and _refused(t.message) for t in tests)
    for target in engine.escape_targets:
        assert not target.exists(), f"the learner wrote {target}"


def test_network_is_unreachable(engine):
    result, _ = engine.run("network")
    tests = [t for t in result.tests if t.family != "rule"]
    assert tests and all(t.status == "error" for t in tests)
    assert all("PermissionError" in t.message or "unreachable" in t.message for t in tests)
    with pytest.raises(BlockingIOError):
        engine.tcp.accept()
    with pytest.raises(BlockingIOError):
        engine.udp.recvfrom(100)


def test_unix_sockets_of_the_host_receive_nothing(engine):
    result, _ = engine.run("unix_socket")
    calls = [t for t in _hidden(result) if t.status != "pass"]
    assert calls and all("FileNotFoundError" in t.message for t in calls)
    assert "ESCAPED" not in _dump(result)
    with pytest.raises(BlockingIOError):
        engine.unix.accept()


def test_an_oversized_reply_is_refused_unread(engine):
    import resource

    engine.run("reference_passes")  # the judge's first grading grows it (about 200 MB): not what is measured
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result, _ = engine.run("oversized_reply")
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    refused = [t for t in _hidden(result) if "refused unread" in t.message]
    assert refused and all(t.status == "error" for t in refused)
    assert any(t.status == "pass" for t in _hidden(result))  # float32 calls and the module still work
    assert grew_mb < 64, f"the judge grew by {grew_mb:.0f} MB: it read some of the 160 MB reply"


# Each a working cheat (its numbers pass); the routes of issue 24 and the earlier ones.
RULE_ROUTES = {
    "rule_aten_operator": "_scaled_dot_product_attention_math", "rule_disabled_record": "DisableTorchFunction",
    "rule_record_cleared": "import gc", "rule_getattr_alias": "getattr computed attribute names",
    "rule_exec_alias": "exec running code built at run time", "rule_operator_helpers": "from functools",
    "rule_sys_modules_alias": "import sys", "rule_pickle": "import pickle", "rule_annotation": "F.__dict__",
    "rule_match_class": "scaled_dot_product_attention=", "rule_written_module": "import importlib",
    "rule_getattr_parameter": "getattr computed attribute", "rule_disable_alias": "torch._C",
}


@pytest.mark.parametrize("case", list(RULE_ROUTES))
def test_ways_around_the_builtin_rule_fail_it_by_name(engine, case):
    result, _ = engine.run(case)
    rule = [t for t in result.tests if t.family == "rule"]
    assert len(rule) == 1 and rule[0].status == "fail" and RULE_ROUTES[case] in rule[0].message, rule
    assert "is not allowed here" in rule[0].message or "every call is spelled out" in rule[0].message
    assert result.status == "fail"
    assert any(t.status == "pass" for t in _hidden(result))  # the numbers are still checked and reported


def test_the_judges_environment_is_not_visible(engine):
    result, _ = engine.run("env_secret")
    assert all(t.status == "pass" for t in _hidden(result))  # the fixture raises as soon as it finds the secret
    assert "import os" in result.tests[0].message  # and a milestone file may not import os at all
    assert "searched the environment of" in _hidden(result)[0].output  # it really looked
    assert SECRET not in _dump(result)


def test_the_verifiers_home_and_the_reference_solution_are_unreadable(engine):
    result, _ = engine.run("read_home")
    tests = [t for t in result.tests if t.family != "rule"]
    assert tests and all(t.status == "error" and _refused(t.message) for t in tests)
    assert engine.token not in _dump(result).replace(engine.home_file.name, "")
    assert "scores = q @ k.transpose" not in _dump(result)


@pytest.mark.slow
def test_fork_bomb_is_stopped_by_the_task_limit(engine):
    result, wall = engine.run("fork_bomb")
    tests = [t for t in result.tests if t.family != "rule"]
    assert tests and all(t.status == "error" for t in tests)
    # after the bomb filled the task budget, torch's own threads cannot start: a crash of the learner's making
    assert all(any(reason in t.message for reason in ("fork bomb stopped", "Time limit", "could not start", "crashed"))
               for t in tests)
    assert wall < RUN_WALL_LIMIT_S + 30  # the run's own limit stops it (forks are slow on a busy machine)


@pytest.mark.slow
def test_forked_copies_of_the_worker_do_not_answer_requests(engine):
    result, _ = engine.run("fork_bomb_copies")
    for test in _hidden(result):
        if test.name.endswith("float32]") and ("no mask" in test.name or test.name.startswith("SelfAttention equals")):
            assert test.status == "error" and ("fork" in test.message or "Time limit" in test.message), test.name
        else:
            assert test.status == "pass", f"{test.name}: {test.message}"


def test_daemons_do_not_outlive_the_run(engine):
    result, _ = engine.run("orphan_processes")
    assert all(t.status == "pass" for t in _hidden(result))
    assert "import subprocess" in result.tests[0].message  # and a milestone file may not import subprocess
    assert "spawned sleep daemons" in _hidden(result)[0].output
    assert _processes_with([f"sleep {arg}" for arg in engine.sleep_args]) == []


def test_patching_torch_comparisons_in_the_worker_changes_nothing(engine):
    result, _ = engine.run("monkeypatch_torch")
    compared = [t for t in result.tests if "matches" in t.name or "equals" in t.name]
    assert compared and all(t.status == "fail" and "values differ" in t.message for t in compared)


def test_lying_objects_never_reach_a_comparison(engine):
    result, _ = engine.run("lying_objects")
    function = [t for t in result.tests if t.name.startswith("matches")]
    module = [t for t in result.tests if t.name.startswith("SelfAttention equals")]
    assert all(t.status == "fail" and "Sneaky (a Tensor subclass)" in t.message for t in function)
    assert all(t.status == "fail" and "AlwaysEqual" in t.message for t in module)


def test_protocol_tampering_crashes_the_worker_with_a_reason(engine):
    result, _ = engine.run("protocol_tamper")
    bad = [t for t in _hidden(result) if t.status != "pass"]  # (the rule fails it too: it imports os and fcntl)
    assert any("malformed message" in t.message for t in bad)
    assert any("answered request 1000000" in t.message for t in bad)
    assert all("malformed message" in t.message or "answered request" in t.message for t in bad)
    assert any(t.status == "pass" for t in result.tests)


WARM_SEQUENCE = ["orphan_processes", "write_outside_scratch", "unix_socket", "read_home", "protocol_tamper",
                 "fork_bomb_copies", "env_secret", "lying_objects", "reference_passes"]


@pytest.mark.slow
@pytest.mark.timeout(20 * RUN_WALL_LIMIT_S)
def test_hostile_fixtures_through_one_warm_sandbox_change_nothing(engine):
    """`challenge watch` keeps one sandbox for many runs: each hostile fixture, run one after another in it,
    gets the result its own cold sandbox gives, and the reference still passes after all of them."""
    if not engine.isolated:
        pytest.skip(f"needs the full sandbox, and this machine gives: {engine.sandbox}")
    with api.WarmGrader() as warm:
        for case in WARM_SEQUENCE:
            got = normalise(warm.grade(engine.request(case)), engine)
            expected = json.loads((FIXTURES / case / "expected.json").read_text())
            assert [(t["name"], t["status"]) for t in got["tests"]] == \
                [(t["name"], t["status"]) for t in expected["tests"]], case
            if case not in LOAD_DEPENDENT:
                assert got == expected, case
    assert _processes_with([f"sleep {arg}" for arg in engine.sleep_args]) == []


def test_nothing_leaks(engine):
    """Last: after every run, no scratch folder, cgroup, file or process is left behind."""
    engine.run("reference_passes")
    engine.warm.close()  # the warm sandbox's own folders go with it
    leftovers = list(engine.scratch_parent.iterdir())
    assert leftovers == [], leftovers
    for parent in _own_pids_cgroups():
        assert list(parent.glob(f"challenge-worker-{os.getpid()}-*")) == []
    assert _processes_with([str(engine.scratch_parent), *(f"sleep {a}" for a in engine.sleep_args)]) == []
    for target in engine.escape_targets:
        assert not target.exists()
