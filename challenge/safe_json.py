"""Reading JSON that someone else wrote: a size limit and a nesting limit
checked before the parser runs, and typed models checked after it.

Every JSON document of a workspace or a bundle (the manifest, workspace.json,
results documents, each line of the event log, checkpoint pointers) is read
through ``load_json``. ``json.loads`` recurses once per level of nesting, so a
document nested 100,000 deep would end in a RecursionError; here the depth is
measured first, by a linear scan that skips string contents, and such a
document is refused with a reason (``UntrustedJSON``) instead.

``validate`` then checks the parsed value against a pydantic model and turns
its errors into one short line naming the field ("tests.0.name: Input should
be a valid string"), never echoing the offending value back.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from challenge.errors import ChallengeError

MAX_DEPTH = 64  # the harness never writes more than ~6 levels
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

# One JSON string (escapes included), or an unterminated one running to the end: the match
# always succeeds where it starts, so the scan never backtracks over the text (linear time).
_STRING = re.compile(r'"(?:[^"\\]|\\.?)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

M = TypeVar("M", bound=BaseModel)


class UntrustedJSON(ChallengeError, ValueError):
    """The document is too large, too deep, not JSON, or not the expected shape."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def nesting_depth(text: str, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count).

    With ``stop_above``, counting stops at the first level past it (the answer is then ``stop_above + 1``).
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    deepest = 0
    for depth in itertools.accumulate(_STEP[c] for c in brackets):
        if depth > deepest:
            deepest = depth
            if stop_above is not None and deepest > stop_above:
                break
    return deepest


def load_json(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` after checking its size and nesting; raises ``UntrustedJSON`` with the reason."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise UntrustedJSON(f"larger than {max_bytes} bytes ({size})")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UntrustedJSON("not UTF-8 text") from None
    if nesting_depth(data, stop_above=max_depth) > max_depth:
        raise UntrustedJSON(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:  # cannot happen after the depth check; kept so no traceback can escape
        raise UntrustedJSON(f"nested deeper than {max_depth} levels") from None
    except ValueError as error:  # JSONDecodeError, and ints longer than Python converts
        raise UntrustedJSON(f"not valid JSON ({_short(str(error))})") from None


def read_json_file(path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """``load_json`` of a file, refusing one larger than ``max_bytes`` before reading it.

    OSError (missing, unreadable) is left to the caller, who knows what a missing file means.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise UntrustedJSON(f"larger than {max_bytes} bytes ({size})")
    return load_json(path.read_bytes(), max_bytes=max_bytes, max_depth=max_depth)


def validate(model: type[M], raw: Any, *, strict: bool | None = None) -> M:
    """``raw`` checked against ``model``; raises ``UntrustedJSON`` naming the first bad field."""
    try:
        return model.model_validate(raw, strict=strict)
    except ValidationError as error:
        raise UntrustedJSON(describe(error)) from None


def read_model(model: type[M], path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> M:
    return validate(model, read_json_file(path, max_bytes=max_bytes))


def describe(error: ValidationError) -> str:
    """The first problem of a validation error as ``field.path: message`` (the value is not repeated)."""
    problems = error.errors(include_url=False, include_input=False)
    if not problems:
        return "does not match the expected shape"
    first = problems[0]
    where = ".".join(_short(str(part), 60) for part in first.get("loc", ())) or "(document)"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
