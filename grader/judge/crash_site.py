"""Where the learner's code raised, in words: the line, the shapes that reached it, the inputs the test sent.

The worker's description of the line (``grader.worker.crash``) is a claim from an
untrusted process: every field is bounded and checked here before it is shown.
The source line comes from the judge's own copy of the learner's file, not from
the worker, and every name or expression the worker mentions must be written on
that line. The inputs come from the request the judge itself sent. None of this
changes a verdict: a crash is an error whatever is said about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from grader.source import LearnerSource
from typing import Any

import torch

MAX_ITEMS, MAX_TEXT, MAX_DIMS, MAX_SIZE = 8, 80, 8, 1 << 40
DTYPES = {"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
          "complex64", "complex128", "float8_e4m3fn", "float8_e5m2"}
DEVICE = re.compile(r"^(cpu|cuda|meta|mps|xpu)(:\d{1,2})?$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
OPS = {"+": "added to", "-": "subtracted from", "*": "multiplied with", "/": "divided by", "==": "compared with",
       "@": "matrix-multiplied with", "masked_fill": "used as the mask of", "matmul": "matrix-multiplied with",
       "bmm": "batch-multiplied with", "view": "viewed", "reshape": "reshaped", "[]": "indexed", "expand": "expanded",
       "expand_as": "expanded", "view_as": "viewed", "reshape_as": "reshaped", "permute": "permuted",
       "transpose": "transposed", "unsqueeze": "unsqueezed", "squeeze": "squeezed", "softmax": "softmaxed",
       "narrow": "narrowed", "unflatten": "unflattened", "repeat": "repeated"}


@dataclass(frozen=True)
class Shaped:
    """A tensor written on the line (``text``: its name or the expression), as its shape and dtype."""

    text: str
    shape: tuple[int, ...]
    dtype: str = ""


@dataclass(frozen=True)
class Conflict:
    """Two things on the line that one operation could not take together (``right`` empty: the receiver alone)."""

    op: str
    left: Shaped
    right: Shaped | None


@dataclass(frozen=True)
class CrashSite:
    line: int
    function: str
    source: str
    tensors: tuple[Shaped, ...]
    expressions: tuple[Shaped, ...]
    conflict: Conflict | None
    parameters: tuple[str, ...]


def _shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or len(value) > MAX_DIMS:
        return None
    if not all(type(v) is int and 0 <= v < MAX_SIZE for v in value):
        return None
    return tuple(value)


def _on_line(text: Any, source: str) -> str | None:
    """A name or expression the worker mentions, kept only if it is written on the line (and short)."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT or not text.isprintable() or "`" in text:
        return None
    return text if text in source else None


def _shaped(claim: Any, source: str, key: str) -> Shaped | None:
    if not isinstance(claim, dict):
        return None
    text, shape = _on_line(claim.get(key), source), _shape(claim.get("shape"))
    dtype = claim.get("dtype", "")
    if text is None or shape is None or (dtype and dtype not in DTYPES):
        return None
    device = claim.get("device", "cpu")
    if not (isinstance(device, str) and DEVICE.match(device)):
        return None
    return Shaped(text, shape, dtype if isinstance(dtype, str) else "")


def _conflict(claim: Any, source: str) -> Conflict | None:
    if not isinstance(claim, dict) or claim.get("op") not in OPS:
        return None
    left = _shaped({"text": claim.get("left"), "shape": claim.get("left_shape")}, source, "text")
    if left is None:
        return None
    right = None
    if claim.get("right"):
        right = _shaped({"text": claim.get("right"), "shape": claim.get("right_shape")}, source, "text")
        if right is None:
            return None
    return Conflict(claim["op"], left, right)


def site_of(claim: Any, source_text: str | None) -> CrashSite | None:
    """The worker's description of the crash, checked against the source the run graded (read once, never the
    file as it is now); None if it does not hold."""
    if not isinstance(claim, dict) or source_text is None or type(claim.get("line")) is not int:
        return None
    lines = source_text.splitlines()
    number = claim["line"]
    if not 1 <= number <= len(lines):
        return None
    source = lines[number - 1].strip()[:200]
    function = claim.get("function")
    function = function if isinstance(function, str) and (IDENTIFIER.match(function) or function == "<module>") else ""

    def items(key: str, field: str) -> tuple[Shaped, ...]:
        raw = claim.get(key)
        found = [_shaped(c, source, field) for c in raw[:MAX_ITEMS]] if isinstance(raw, list) else []
        return tuple(s for s in found if s is not None)

    parameters = claim.get("parameters")
    parameters = tuple(p for p in parameters[:16] if isinstance(p, str) and IDENTIFIER.match(p)) \
        if isinstance(parameters, list) else ()
    return CrashSite(number, function, source, items("tensors", "name"), items("expressions", "text"),
                     _conflict(claim.get("conflict"), source), parameters)


# -- what the test sent (trusted: the judge's own request) ---------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"{format_shape(tuple(value.shape))} {str(value.dtype).removeprefix('torch.')}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return {"Handle": "(a module)", "GeneratorSeed": "(a torch.Generator)"}.get(type(value).__name__,
                                                                                type(value).__name__)


def describe_inputs(args: list, kwargs: dict, parameters: tuple[str, ...] = ()) -> str:
    """``q (2, 4, 8) float32, mask (4, 4) bool``: positional arguments under the learner's parameter names."""
    parts = [f"{parameters[i] if i < len(parameters) else f'argument {i + 1}'} {_value(v)}" for i, v in enumerate(args)]
    parts += [f"{k} {_value(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def format_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def render(site: CrashSite, *, file_name: str, call: str = "", shown: str = "") -> str:
    """The lines shown under "Your code raised ...": where, the shapes there, and what the test sent
    (``shown``: text already above it; the source line is not repeated when it is there)."""
    where = f" in {site.function}" if site.function and site.function != "<module>" else ""
    source = "" if site.source and site.source in shown else f": `{site.source}`"
    lines = [f"At line {site.line} of {file_name}{where}{source}"]
    named = {t.text: t for t in site.tensors}
    shapes = [f"{t.text} has shape {format_shape(t.shape)}" + (f" {t.dtype}" if t.dtype else "") for t in site.tensors]
    made = [f"your `{e.text}` makes it {format_shape(e.shape)}" if _receiver(e.text) in named
            else f"`{e.text}` has shape {format_shape(e.shape)}" for e in site.expressions]
    if shapes or made:
        lines.append("  " + "; ".join(shapes + made) + ".")
    if site.conflict is not None:
        lines.append("  " + conflict_sentence(site.conflict))
    if call:
        lines.append(f"  The test called {call}.")
    return "\n".join(lines)


def _receiver(expression: str) -> str:
    match = re.match(r"^([A-Za-z_][\w.]*?)(?:\.\w+\(|\[)", expression)
    return match.group(1) if match else ""


def conflict_sentence(conflict: Conflict) -> str:
    left = f"`{conflict.left.text}` of shape {format_shape(conflict.left.shape)}"
    if conflict.op == "[]":
        index = f" with `[{conflict.right.text}]`" if conflict.right else ""
        return f"{left} cannot be indexed{index}: an index is out of range or has too many dimensions."
    if conflict.right is None:
        return f"{left} cannot be {OPS[conflict.op]} with these arguments."
    right = f"`{conflict.right.text}` of shape {format_shape(conflict.right.shape)}"
    if conflict.op in ("@", "matmul", "bmm"):
        return f"{left} cannot be {OPS[conflict.op]} {right}: the last dimension of the first must equal " \
               "the second-to-last of the second."
    if conflict.op == "masked_fill":
        return f"{right} does not broadcast against {left}, the tensor it masks."
    return f"{left} does not broadcast against {right} (sizes must match or be 1, aligned from the right)."


def locate(error, *, source: LearnerSource, what: str, payload: dict | None) -> None:
    """Check the worker's claim on ``error`` (a LearnerException) against the source the run graded, and add what
    the test sent."""
    error.site = site_of(error.site_claim, source.text)
    error.file_name = source.name
    if payload is not None and error.site is not None:
        args, kwargs = payload.get("args") or [], payload.get("kwargs") or {}
        name = what.split("(", 1)[0]
        inputs = describe_inputs(list(args), dict(kwargs), error.site.parameters)
        error.call = f"{name} with {inputs}" if inputs else f"{name} with no arguments"
