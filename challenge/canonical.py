"""A canonical form of Python source, for copy detection (``challenge.similarity``).

Copy detection fingerprints token k-grams; a copier who reorders methods and swaps
one idiom for an equivalent one (``.mT`` for ``.transpose(-2, -1)``, ``** -0.5`` for
``1 / math.sqrt``, ``torch.where`` for ``masked_fill``, ``einsum`` for ``@``) changes
most k-grams without changing the code. So both files are first rewritten into one
canonical form, from their AST (read, never run):

- imports and docstrings dropped; formatting, quotes and number spellings as
  ``ast.unparse`` writes them (``0.00001`` and ``1e-5`` alike); type annotations are
  kept (they are code the author chose; dropping them made independent files look
  alike: every solution's ``load_torch_weights(self, mha)`` is the same);
- ``torch.f(x)``, ``F.f(x)``, ``x.f()`` all written ``f(x)``; keyword arguments in
  name order, as positional ones;
- one form per idiom: transposes of the last two axes, matrix products (``@``,
  ``matmul``, ``bmm``, two-operand ``einsum`` that is a matrix product), square roots
  and their inverses, divisions by a square root, masks by ``where`` or
  ``masked_fill`` and their negations, minus infinity, ``x.shape[i]``/``x.size(i)``,
  ``x += y``;
- functions, classes and methods in a fixed order, so that reordering them hides
  nothing. Statements inside a body keep their order: sorting runs of independent
  statements made independent files look alike (every ``__init__`` is a run of
  ``self.x = nn.Linear(...)``), and swapping two statements only changes the few
  k-grams that span their boundary (the calibration bench measures it).

What it cannot undo: code restructured by hand (loops unrolled, helpers inlined,
the computation itself changed). A low score is no proof of independent work.
"""

from __future__ import annotations

import ast
import re

MODULES = frozenset({"torch", "F", "nn", "functional", "math", "np", "numpy", "linalg", "special", "init"})
SAME = {"bmm": "matmul", "mm": "matmul", "swapaxes": "transpose", "swapdims": "transpose", "multiply": "mul",
        "divide": "div", "true_divide": "div", "subtract": "sub", "concat": "cat", "concatenate": "cat",
        "absolute": "abs", "greater": "gt", "less": "lt", "arccos": "acos", "clip": "clamp"}
_NAME = re.compile(r"[A-Za-z_]\w*")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _is_call(node: ast.AST, name: str, arity: int | None = None) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
            and (arity is None or len(node.args) == arity))


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _on_module(node: ast.AST) -> bool:
    dotted = _dotted(node)
    return dotted is not None and all(part in MODULES for part in dotted.split("."))


class _Idioms(ast.NodeTransformer):
    """Bottom-up rewriting of equivalent spellings into one."""

    def generic_visit(self, node):
        super().generic_visit(node)
        return node

    # -- what is dropped ----------------------------------------------------------------------
    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import

    def _body(self, node):
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        return node

    def visit_FunctionDef(self, node):
        node.decorator_list = [d for d in node.decorator_list if not _on_module(d)]
        return self.generic_visit(self._body(node))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        return self.generic_visit(self._body(node))

    def visit_Module(self, node):
        return self.generic_visit(self._body(node))

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        load = ast.parse(ast.unparse(node.target), mode="eval").body
        return ast.Assign(targets=[node.target], value=self.visit(ast.BinOp(load, node.op, node.value)),
                          lineno=node.lineno)

    # -- calls: one shape for functions and methods --------------------------------------------
    def visit_Call(self, node):
        self.generic_visit(node)
        args = [*node.args, *(k.value for k in sorted((k for k in node.keywords if k.arg), key=lambda k: k.arg))]
        extra = [k for k in node.keywords if not k.arg]
        func = node.func
        if isinstance(func, ast.Attribute):
            name = func.attr
            if not _on_module(func.value):
                args = [func.value, *args]
        elif isinstance(func, ast.Name):
            name = func.id
        else:
            return node
        name = SAME.get(name, name)
        call = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=extra)
        return self._idiom(call, name, args)

    def _idiom(self, call: ast.Call, name: str, args: list[ast.expr]) -> ast.expr:
        numbers = [_number(a) for a in args[1:]]
        if name == "transpose" and len(args) == 3 and sorted(numbers) in ([-2.0, -1.0],):
            return _call("T", args[0])
        if name == "permute" and len(args) > 2 and numbers[-2:] == [len(args) - 2, len(args) - 3]:
            if numbers[:-2] == [float(i) for i in range(len(args) - 3)]:
                return _call("T", args[0])
        if name == "matmul" and len(args) == 2:
            return _call("matmul", *args)
        if name == "einsum" and len(args) == 3 and isinstance(args[0], ast.Constant):
            product = _einsum_matmul(str(args[0].value), args[1], args[2])
            if product is not None:
                return product
        if name == "sqrt" and len(args) == 1:
            return _call("sqrt", args[0])
        if name == "rsqrt" and len(args) == 1:
            return _call("rsqrt", args[0])
        if name == "pow" and len(args) == 2:
            return self.visit_BinOp(ast.BinOp(args[0], ast.Pow(), args[1]))
        if name == "where" and len(args) == 3:
            return _call("masked_fill", args[1], _negate_plain(args[0]), args[2])
        if name == "logical_not" and len(args) == 1:
            return _negate_plain(args[0])
        if name == "float" and len(args) == 1 and isinstance(args[0], ast.Constant) \
                and str(args[0].value).strip().lower() in ("-inf", "-infinity"):
            return ast.Name("NEG_INF", ast.Load())
        if name == "float" and len(args) == 1 and isinstance(args[0], ast.Constant) \
                and str(args[0].value).strip().lower() in ("inf", "infinity", "+inf"):
            return ast.Name("INF", ast.Load())
        if name == "size" and len(args) == 1:
            return _call("size", args[0])
        return call

    # -- attributes, operators, constants -----------------------------------------------------
    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in ("mT", "T") and not _on_module(node.value):
            return _call("T", node.value)
        if node.attr == "shape" and not _on_module(node.value):
            return _call("size", node.value)
        if node.attr in ("inf", "infinity") and _on_module(node.value):
            return ast.Name("INF", ast.Load())
        if node.attr == "min" and _is_call(node.value, "finfo"):
            return ast.Name("NEG_INF", ast.Load())
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if _is_call(node.value, "size", 1) and not isinstance(node.slice, (ast.Slice, ast.Tuple)):
            return _call("size", node.value.args[0], node.slice)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Name) and node.operand.id == "INF":
            return ast.Name("NEG_INF", ast.Load())
        if isinstance(node.op, ast.Invert):
            return _negate_plain(node.operand)
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            other = node.comparators[0]
            if isinstance(other, ast.Constant) and other.value in (0, False) and not isinstance(other.value, str):
                return _negate_plain(node.left)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        exponent = _number(node.right)
        if isinstance(node.op, ast.Pow) and exponent == 0.5:
            return _call("sqrt", node.left)
        if isinstance(node.op, ast.Pow) and exponent == -0.5:
            return _call("rsqrt", node.left)
        if isinstance(node.op, ast.Pow) and exponent == -1.0 and _is_call(node.left, "sqrt", 1):
            return _call("rsqrt", node.left.args[0])
        if isinstance(node.op, ast.MatMult):
            return _call("matmul", node.left, node.right)
        if isinstance(node.op, ast.Div) and _is_call(node.right, "sqrt", 1):
            inverse = _call("rsqrt", node.right.args[0])
            return inverse if _number(node.left) == 1.0 else ast.BinOp(node.left, ast.Mult(), inverse)
        if isinstance(node.op, ast.Div) and _is_call(node.right, "rsqrt", 1):
            return ast.BinOp(node.left, ast.Mult(), _call("sqrt", node.right.args[0]))
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, float) and node.value.is_integer() and abs(node.value) < 1e15:
            return ast.Constant(int(node.value))
        return node


def _negate_plain(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return node.operand
    return ast.UnaryOp(ast.Invert(), node)


def _einsum_matmul(spec: str, a: ast.expr, b: ast.expr) -> ast.expr | None:
    """``einsum("bhqd,bhkd->bhqk", q, k)`` as ``matmul(q, T(k))``: only a plain (batched) matrix product."""
    spec = spec.replace(" ", "").replace("...", "")
    if spec.count("->") != 1 or spec.count(",") != 1:
        return None
    inputs, out = spec.split("->")
    left, right = inputs.split(",")
    if len(left) < 2 or len(right) < 2 or len(out) < 2 or len(left) != len(right) or len(out) != len(left):
        return None
    batch = out[:-2]
    if left[:-2] != batch or right[:-2] != batch:
        return None
    (i, c1), (c2, k), (oi, ok) = left[-2:], right[-2:], out[-2:]
    x, y = a, b
    if c1 == oi:  # left is (c, i)
        i, c1, x = c1, i, _call("T", a)
    if k == c1 and c2 != c1:  # right is (k, c)
        c2, k, y = k, c2, _call("T", b)
    if (i, k) == (oi, ok) and c1 == c2 and len({i, k, c1}) == 3:
        return _call("matmul", x, y)
    return None


# -- order -----------------------------------------------------------------------------------------


def _key(node: ast.AST) -> str:
    """A statement's text with every name erased: equal for the same code under other names."""
    return _NAME.sub("N", ast.unparse(node))


def _order(node: ast.AST) -> None:
    for field in ("body", "orelse", "finalbody"):
        body = getattr(node, field, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            for statement in body:
                _order(statement)
            if isinstance(node, (ast.Module, ast.ClassDef)):
                definitions = sorted((s for s in body if isinstance(s, DEFINITIONS)), key=_key)
                setattr(node, field, [*(s for s in body if not isinstance(s, DEFINITIONS)), *definitions])
    for handler in getattr(node, "handlers", []):
        _order(handler)


def canonical(source: str) -> str:
    """``source`` in canonical form; the source itself when it does not parse."""
    try:
        tree = ast.parse(source)
        tree = ast.fix_missing_locations(_Idioms().visit(tree))
        _order(tree)
        return ast.unparse(tree)
    except (SyntaxError, ValueError, RecursionError):
        return source
