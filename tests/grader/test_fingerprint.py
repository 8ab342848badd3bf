"""The hidden-test fingerprint a bundle records: it changes with the tests and with
every judge module they use, and nothing a hidden test imports is left out."""

import ast
from pathlib import Path

from grader import fingerprint
from grader.fingerprint import hidden_tests_sha256


def _tree(root: Path) -> Path:
    (root / "hidden" / "01_x").mkdir(parents=True)
    (root / "hidden" / "01_x" / "test_x.py").write_text("def test_a(): pass\n")
    (root / "hidden" / "pytest.ini").write_text("[pytest]\n")
    (root / "judge" / "deep").mkdir(parents=True)
    (root / "judge" / "compare.py").write_text("# judge\n")
    (root / "judge" / "deep" / "probe.py").write_text("# judge\n")
    (root / "protocol.py").write_text("# wire\n")
    return root / "hidden" / "01_x"


def test_fingerprint_covers_tests_judge_package_and_wire_format(tmp_path, monkeypatch):
    tests = _tree(tmp_path)
    monkeypatch.setattr(fingerprint, "HIDDEN_DIR", tmp_path / "hidden")
    monkeypatch.setattr(fingerprint, "JUDGE_DIR", tmp_path / "judge")
    monkeypatch.setattr(fingerprint, "WIRE_FORMAT", tmp_path / "protocol.py")
    seen = {hidden_tests_sha256(tests)}
    assert len(next(iter(seen))) == 64
    (tests / "__pycache__").mkdir()
    (tests / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert hidden_tests_sha256(tests) in seen  # caches do not count
    for changed in ("judge/compare.py", "judge/deep/probe.py", "protocol.py", "hidden/pytest.ini",
                    "hidden/01_x/test_x.py"):
        (tmp_path / changed).write_text("# changed\n")
        value = hidden_tests_sha256(tests)
        assert value not in seen, f"a change to {changed} went unnoticed"
        seen.add(value)
    (tmp_path / "judge" / "new_module.py").write_text("# added\n")
    assert hidden_tests_sha256(tests) not in seen, "a new judge module went unnoticed"


def _grader_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "grader" or name.startswith(("grader.", "milestones", "challenge"))}


def test_hidden_tests_and_judge_import_only_what_the_fingerprint_covers():
    allowed = ("grader.judge", "grader.protocol", "grader.messages", "grader.source", "grader.requests",
               "grader.errors")
    files = [p for p in fingerprint.HIDDEN_DIR.rglob("*.py")] + [p for p in fingerprint.JUDGE_DIR.rglob("*.py")]
    assert files
    outside = {f"{p.relative_to(fingerprint.GRADER_DIR)}: {name}" for p in files for name in _grader_imports(p)
               if not (name in allowed or name.startswith(tuple(a + "." for a in allowed)))}
    assert not outside, "imports outside the fingerprint:\n" + "\n".join(sorted(outside))
