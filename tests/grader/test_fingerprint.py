"""The hidden-test fingerprint a bundle records: it changes with the tests and with the judge modules they use."""

from grader import fingerprint
from grader.fingerprint import hidden_tests_sha256


def test_fingerprint_covers_the_tests_and_the_judge_support(tmp_path, monkeypatch):
    tests = tmp_path / "hidden" / "01_x"
    tests.mkdir(parents=True)
    (tests / "test_x.py").write_text("def test_a(): pass\n")
    support = tmp_path / "grader"
    support.mkdir()
    for name in fingerprint.JUDGE_SUPPORT:
        (support / name).write_text("# judge\n")
    monkeypatch.setattr(fingerprint, "GRADER_DIR", support)
    first = hidden_tests_sha256(tests)
    assert hidden_tests_sha256(tests) == first and len(first) == 64
    (tests / "__pycache__").mkdir()
    (tests / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert hidden_tests_sha256(tests) == first  # caches do not count
    (support / "compare.py").write_text("# judge, changed\n")
    second = hidden_tests_sha256(tests)
    assert second != first
    (tests / "test_x.py").write_text("def test_a(): assert False\n")
    assert hidden_tests_sha256(tests) not in (first, second)


def test_every_judge_support_module_exists():
    assert all((fingerprint.GRADER_DIR / name).is_file() for name in fingerprint.JUDGE_SUPPORT)
