"""Where an exception left the learner's code, in shapes: the line and what reached it.

On an exception the worker walks the traceback to the innermost frame in the
learner's file and describes that line: its number, the tensors written on it
(shape, dtype, device; never a value) and the shapes of the shape-changing
expressions on it (``mask.unsqueeze(1)``, ``x[:, None]``, ``k.transpose(-2, -1)``),
computed again from shapes alone (``grader.worker.shapes``), which runs no learner code. Where
two of those meet in an operation that cannot take them (``scores + mask.unsqueeze(1)``,
``q @ k``, ``scores.masked_fill(mask, ...)``), the pair is named. The parameter names
of the outermost learner frame let the judge label the inputs it sent.

Everything here is a claim to the judge (``grader.judge.crash_site`` bounds and
checks it): it only ever adds words to an error, never changes a verdict.
"""

from __future__ import annotations

import ast
import linecache
import re
from types import FrameType
from typing import Any

import torch

from grader.worker.shapes import Shape, ShapeError

MAX_NAMES, MAX_EXPRESSIONS, MAX_TEXT = 8, 6, 80
# Methods whose result shape follows from the receiver's shape and literal arguments alone.
SHAPE_METHODS = {"unsqueeze", "squeeze", "view", "reshape", "transpose", "permute", "flatten", "expand", "repeat",
                 "t", "contiguous", "float", "double", "half", "bool", "long", "int", "softmax", "log_softmax",
                 "sum", "mean", "amax", "masked_fill", "masked_fill_", "matmul", "bmm", "view_as", "reshape_as",
                 "expand_as", "tril", "triu", "swapaxes", "clone", "detach", "exp", "sqrt", "abs", "relu"}
BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@"}
INTEGER_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
               ast.FloorDiv: lambda a, b: a // b}
# torch.f(x, ...) / F.f(x, ...) spelled as functions: the first argument is the receiver.
FUNCTIONS = {"matmul", "bmm", "softmax", "log_softmax", "masked_fill", "transpose", "unsqueeze", "squeeze",
             "reshape", "permute", "tril", "triu", "flatten"}
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _innermost(error: BaseException, learner_path: str) -> tuple[FrameType, int, FrameType] | None:
    """(innermost learner frame, its line, outermost learner frame)."""
    found, outer = None, None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == learner_path:
            found = (tb.tb_frame, tb.tb_lineno)
            outer = outer or tb.tb_frame
        tb = tb.tb_next
    return (*found, outer) if found else None


def _static(obj: Any, name: str) -> Any:
    """``obj.name`` without running a property or ``__getattr__`` of the learner's (modules keep theirs in dicts)."""
    try:
        own = object.__getattribute__(obj, "__dict__")  # type(obj), not obj.__class__: nothing of theirs runs
    except (AttributeError, TypeError):
        raise LookupError(name) from None
    if type(own) is not dict:
        raise LookupError(name)
    if issubclass(type(obj), torch.nn.Module):
        for store in ("_parameters", "_buffers", "_modules"):
            table = own.get(store)
            if type(table) is dict and name in table:
                return table[name]
    if name not in own:
        raise LookupError(name)
    return own[name]


class _Line:
    """Evaluates the shape-only parts of one source line against one frame's locals."""

    def __init__(self, frame: FrameType, text: str):
        self.locals = dict(frame.f_locals)
        self.text = text
        self.expressions: list[dict] = []
        self.conflict: dict | None = None

    def value(self, node: ast.AST) -> Any:
        """A local (or an attribute chain of one), without running learner code."""
        if isinstance(node, ast.Name) and node.id in self.locals:
            return self.locals[node.id]
        if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
            return _static(self.value(node.value), node.attr)
        raise LookupError(ast.dump(node)[:40])

    def integer(self, node: ast.AST, depth: int = 0) -> int:
        if depth > 6:
            raise LookupError("deep")
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.integer(node.operand, depth + 1)
        if isinstance(node, ast.BinOp) and type(node.op) in INTEGER_OPS:
            return INTEGER_OPS[type(node.op)](self.integer(node.left, depth + 1), self.integer(node.right, depth + 1))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            return int(self.tensor(node.value.value, depth + 1).dims[self.integer(node.slice, depth + 1)])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "size" \
                and len(node.args) == 1:
            return int(self.tensor(node.func.value, depth + 1).dims[self.integer(node.args[0], depth + 1)])
        value = self.value(node)
        if type(value) is int:
            return value
        raise LookupError("not an int")

    def argument(self, node: ast.AST, depth: int) -> Any:
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.argument(item, depth + 1) for item in node.elts)
        if isinstance(node, ast.Constant) and (node.value is None or type(node.value) in (bool, float)):
            return node.value
        if isinstance(node, ast.Slice):
            return slice(*(None if part is None else self.integer(part, depth + 1)
                           for part in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return Ellipsis
        try:
            return self.integer(node, depth + 1)
        except LookupError:
            return self.tensor(node, depth + 1)

    def tensor(self, node: ast.AST, depth: int = 0) -> Shape:
        """The shape ``node`` would have, or LookupError."""
        if depth > 12:
            raise LookupError("deep")
        if isinstance(node, (ast.Name, ast.Attribute)) and not (isinstance(node, ast.Attribute)
                                                                and node.attr in ("T", "mT")):
            value = self.value(node)
            if type(value) not in _PLAIN:
                raise LookupError("not a tensor")
            return Shape(tuple(int(s) for s in value.shape), _dtype(value))
        if isinstance(node, ast.Attribute):  # .T, .mT
            return self.note(node, self.attempt(node.value, self.tensor(node.value, depth + 1), node.attr, [], {}, []))
        if isinstance(node, ast.Subscript):
            index = self.argument(node.slice, depth)
            return self.note(node, self.attempt(node.value, self.tensor(node.value, depth + 1), "[]", [index], {},
                                                [node.slice]))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, arg_nodes = node.func.attr, list(node.args)
            if isinstance(node.func.value, ast.Name) and node.func.value.id in ("torch", "F") and arg_nodes:
                if method not in FUNCTIONS:
                    raise LookupError("not a shape function")
                receiver_node, arg_nodes = arg_nodes[0], arg_nodes[1:]
            elif method in SHAPE_METHODS:
                receiver_node = node.func.value
            else:
                raise LookupError("not a shape method")
            receiver = self.tensor(receiver_node, depth + 1)
            args = [0.0 if method == "masked_fill" and i == 1 else self.argument(a, depth)
                    for i, a in enumerate(arg_nodes)]
            kwargs = {k.arg: 0.0 if k.arg == "value" else self.argument(k.value, depth)
                      for k in node.keywords if k.arg}
            return self.note(node, self.attempt(receiver_node, receiver, method, args, kwargs,
                                                [n for n, v in zip(arg_nodes, args) if isinstance(v, Shape)]))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not)):
            return self.tensor(node.operand, depth + 1)
        if isinstance(node, ast.Compare) and len(node.comparators) == 1:
            left = self.tensor(node.left, depth + 1)
            try:
                right = self.tensor(node.comparators[0], depth + 1)
            except LookupError:
                return Shape(left.dims, "bool")
            return self.attempt(node.left, left, "==", [right], {}, [node.comparators[0]])
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            left, right = self.tensor(node.left, depth + 1), self.tensor(node.right, depth + 1)
            return self.note(node, self.attempt(node.left, left, BINARY[type(node.op)], [right], {}, [node.right]))
        raise LookupError("not a shape expression")

    def attempt(self, left_node: ast.AST, left: Shape, op: str, args: list, kwargs: dict,
                tensor_nodes: list[ast.AST]) -> Shape:
        """``left op args`` on shapes; a failure between two tensors of the line becomes the conflict."""
        try:
            if op == "[]":
                return left.index(args[0])
            if op in ("+", "-", "*", "/", "@", "=="):
                return left.binary(op, args[0])
            return left.method(op, args, kwargs)
        except (ShapeError, TypeError, ValueError, IndexError, AttributeError):
            if self.conflict is None:
                right = next((a for a in args if isinstance(a, Shape)), None)
                shown = tensor_nodes and (right is not None or op == "[]")
                self.conflict = {"op": op, "left": self.segment(left_node), "left_shape": list(left.dims),
                                 "right": self.segment(tensor_nodes[0]) if shown else "",
                                 "right_shape": list(right.dims) if right is not None else []}
            raise LookupError("does not apply") from None

    def segment(self, node: ast.AST) -> str:
        return (ast.get_source_segment(self.text, node) or "")[:MAX_TEXT]

    def note(self, node: ast.AST, result: Shape) -> Shape:
        text = self.segment(node)
        if text and len(self.expressions) < MAX_EXPRESSIONS and all(e["text"] != text for e in self.expressions):
            self.expressions.append({"text": text, "shape": list(result.dims), "dtype": result.dtype})
        return result


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _parse(text: str) -> tuple[ast.AST | None, str]:
    """The line as a tree and the text it was parsed from: the statement, or, for one line of a statement that
    spans several, the piece of it that parses (the inside of a call, the right-hand side)."""
    stripped = text.strip().rstrip("\\").strip()
    pieces = [stripped, stripped.rstrip(",").rstrip("(").strip(), stripped.split("=", 1)[-1].strip()]
    for candidate in pieces:
        for attempt in (candidate, f"({candidate})"):
            try:
                return ast.parse(attempt), attempt
            except SyntaxError:
                continue
    return None, stripped


def _tensor_names(tree: ast.AST | None, text: str, line: _Line) -> list[dict]:
    """The tensors written on the line, in order of appearance: plain names and attribute chains (self.mask)."""
    candidates: list[tuple[int, str, ast.AST | None]] = []
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Name, ast.Attribute)):
                candidates.append((getattr(node, "col_offset", 0), ast.unparse(node), node))
    else:
        candidates = [(m.start(), m.group(0), None) for m in re.finditer(r"[A-Za-z_][\w.]*", text)]
    seen, out = set(), []
    for _, name, node in sorted(candidates, key=lambda c: c[0]):
        if name in seen or len(out) >= MAX_NAMES:
            continue
        seen.add(name)
        try:
            value = line.value(node) if node is not None else _dotted(line, name)
        except LookupError:
            continue
        if type(value) in _PLAIN:
            out.append({"name": name[:MAX_TEXT], "shape": list(value.shape), "dtype": _dtype(value),
                        "device": str(value.device)})
    return out


def _dotted(line: _Line, name: str) -> Any:
    parts = name.split(".")
    if parts[0] not in line.locals:
        raise LookupError(name)
    value = line.locals[parts[0]]
    for part in parts[1:]:
        value = _static(value, part)
    return value


def _parameters(frame: FrameType) -> list[str]:
    """The outermost learner frame's parameter names, ``self`` left out: they label the arguments the judge sent."""
    code = frame.f_code
    names = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    return names[1:] if names and names[0] in ("self", "cls") else names


def crash_site(error: BaseException, learner_path: str) -> dict | None:
    """The innermost line of the learner's file that the exception passed through, described in shapes."""
    try:
        found = _innermost(error, learner_path)
        if found is None:
            return None
        frame, lineno, outer = found
        text = linecache.getline(learner_path, lineno).rstrip()
        tree, parsed = _parse(text)
        line = _Line(frame, parsed)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, (ast.Call, ast.BinOp, ast.Subscript, ast.Attribute, ast.Compare)):
                try:
                    line.tensor(node)
                except (LookupError, ShapeError, RuntimeError, TypeError, ValueError, IndexError, AttributeError,
                        RecursionError):
                    continue
        return {"line": lineno, "function": frame.f_code.co_name, "tensors": _tensor_names(tree, parsed, line),
                "expressions": line.expressions, "conflict": line.conflict, "parameters": _parameters(outer)}
    except BaseException:  # noqa: BLE001 - a description of an error must never replace the error itself
        return None
