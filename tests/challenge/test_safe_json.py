"""Untrusted JSON: the depth is measured before the parser recurses, the size
before the file is read, and model errors name the field without echoing it."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel, ConfigDict

from challenge.safe_json import UntrustedJSON, load_json, nesting_depth, read_json_file, validate


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4),
    ('{"a": "[[[[{{{{", "b": ["\\"]]]]"]}', 2),  # brackets inside strings, escaped quotes
    ('"unterminated [[[[', 0),
])
def test_nesting_depth_skips_strings(text, depth):
    assert nesting_depth(text) == depth


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
                                  "[" * 100_000])
def test_json_nested_100000_deep_is_refused_before_parsing(text):
    with pytest.raises(UntrustedJSON, match="nested deeper than 64 levels"):
        load_json(text)
    assert load_json("[" * 64 + "]" * 64, max_depth=64) is not None


def test_the_scan_is_linear_on_unterminated_strings():
    hostile = '"\\"' * 300_000 + "\\"  # every quote escaped, a lone backslash at the end
    started = time.perf_counter()
    with pytest.raises(UntrustedJSON, match="not valid JSON"):
        load_json(hostile)
    assert time.perf_counter() - started < 30  # quadratic would be hours; never asserted tighter on a busy machine


def test_size_and_encoding_limits(tmp_path):
    with pytest.raises(UntrustedJSON, match="larger than 10 bytes"):
        load_json(b"[1, 2, 3, 4, 5]", max_bytes=10)
    with pytest.raises(UntrustedJSON, match="not UTF-8"):
        load_json(b'"\xff"')
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b"0," * 1000 + b"0]")
    with pytest.raises(UntrustedJSON, match="larger than 100 bytes"):
        read_json_file(path, max_bytes=100)
    with pytest.raises(UntrustedJSON, match="not valid JSON"):
        load_json("9" * 5000)  # longer than Python converts


class _Point(BaseModel):
    model_config = ConfigDict(strict=True)
    x: int
    tags: list[str] = []


def test_validation_errors_name_the_field_and_not_the_value():
    with pytest.raises(UntrustedJSON) as error:
        validate(_Point, {"x": "\x1b[2Jsecret", "tags": ["ok", 3]})
    assert error.value.reason == "x: Input should be a valid integer (and 1 more)"
    assert validate(_Point, {"x": 3}).x == 3
