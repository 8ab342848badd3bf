"""The built-in rule, decided by the judge from the learner's source text.

The source is read and parsed with ``ast``, never imported. While a run forbids
some built-ins, the file fails the rule when

- it steps outside the subset of Python in which every call is spelled out
  (``grader.judge.allowlist``: no getattr/eval/exec/pickle/sys/frames, modules
  used only as ``module.name``, imports from a short list); or
- it names a forbidden built-in: its Python name through any import or alias
  (``F.scaled_dot_product_attention``, ``from torch.nn import functional as G;
  G.scaled_dot_product_attention``), the module classes of its family
  (``nn.GroupNorm`` where LayerNorm is the task, see ``grader.judge.families``).

Inside the subset a built-in can only be reached by writing its name, so the
name check is complete. The worker's record of what ran (``grader.worker.record``)
is a second signal: a claim that can add a violation, never clear one.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.judge.allowlist import _Scope, check_tree, dotted, root_name
from grader.judge.families import EVIDENCE, FAMILIES, RECORD_OFF, family_of

# Forbidden names whose leaf is also a plain tensor attribute (torch.autograd.grad vs x.grad): only a path
# from an imported module reaches the function.
TENSOR_ATTRIBUTES = frozenset({"grad"})
# Module classes and helpers that call a forbidden function, outside any family.
CALLERS: dict[str, tuple[str, ...]] = {
    "torch.Tensor.backward": ("run_backward", "_engine_run_backward"),
    "torch.autograd.backward": ("run_backward", "_engine_run_backward"),
    "torch.autograd.grad": ("_engine_run_backward",),
}


@dataclass(frozen=True)
class Violation:
    line: int
    what: str  # the spelling found, e.g. "F.scaled_dot_product_attention"
    reason: str  # "is torch.nn.functional.scaled_dot_product_attention" / "is not allowed in milestone files: ..."
    builtin: str = ""  # the forbidden built-in it reaches, when it reaches one

    def describe(self) -> str:
        return f"line {self.line}: {self.what} {self.reason}"


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def spellings(forbidden: list[str]) -> dict[str, str]:
    """identifier -> the forbidden built-in it reaches (its own leaf, its family's, its callers')."""
    table: dict[str, str] = {}
    in_families = [name for family in FAMILIES.values() for name in family.names if name in forbidden]
    forbidden = [*in_families, *sorted(set(forbidden) - set(in_families))]  # a family's main name first
    for name in forbidden:
        table.setdefault(_leaf(name), name)
    for name in forbidden:  # then its family: forbidding F.layer_norm forbids nn.LayerNorm and F.group_norm too
        family = family_of(name)
        for spelling in (*CALLERS.get(name, ()), *(family.operators if family else ())):
            table.setdefault(spelling, name)
        for sibling in (family.names if family else ()):
            table.setdefault(_leaf(sibling), sibling)
    return table


def _type_expression(node: ast.AST) -> bool:
    """``nn.MultiheadAttention``, ``Optional[nn.LayerNorm]``, ``"nn.LayerNorm"``: names a class, calls nothing."""
    return all(isinstance(sub, (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Constant,
                                ast.BinOp, ast.BitOr, ast.Load, ast.expr_context)) for sub in ast.walk(node))


def _annotations(tree: ast.AST) -> set[int]:
    """ids of the nodes inside plain type annotations (still checked by the allow-list, as any code)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(sub) for root in roots if _type_expression(root) for sub in ast.walk(root)}


class _Names(ast.NodeVisitor):
    """Every spelling of a forbidden built-in. Inside the subset, names are the only way to reach one."""

    def __init__(self, forbidden: list[str], scope: _Scope, annotations: set[int]):
        self.table = spellings(forbidden)
        self.methods = {_leaf(n) for n in forbidden if n.startswith("torch.Tensor.")}
        self.scope = scope
        self.annotations = annotations
        self.found: list[Violation] = []

    def add(self, node: ast.AST, what: str, name: str) -> None:
        builtin = self.table[name]
        reason = f"is {builtin}" if _leaf(builtin) == name else f"reaches {builtin}"
        self.found.append(Violation(getattr(node, "lineno", 0), what, reason, builtin))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            for part in [*(node.module or "").split("."), alias.name]:
                if part in self.table:
                    self.add(node, f"from {node.module} import {alias.name}", part)
                    break

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            for part in alias.name.split("."):
                if part in self.table:
                    self.add(node, f"import {alias.name}", part)
                    break

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        if name in self.table and id(node) not in self.annotations:
            from_module = root_name(node) in self.scope.module_aliases
            # the learner's own attribute of that name, read off self (a module can never be self: see allowlist)
            own = name in self.scope.own_attributes and name not in self.methods and \
                isinstance(node.value, ast.Name) and node.value.id == "self"
            if from_module or (not own and name not in TENSOR_ATTRIBUTES):
                self.add(node, dotted(node) if from_module else f".{name}", name)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for name in node.kwd_attrs:
            if name in self.table and name not in self.scope.own_attributes:
                self.add(node, f"case ...({name}=...)", name)
        self.generic_visit(node)


def check_source(source: str, *, forbidden: list[str], allowed_imports: list[str] | tuple[str, ...] = ()
                 ) -> list[Violation]:
    """Every violation of the built-in rule in ``source``; [] when nothing is forbidden.

    Raises ``SyntaxError`` (or ``ValueError`` for null bytes) when the source does not parse.
    """
    if not forbidden:
        return []
    tree = ast.parse(source)
    scope = _Scope(tree)
    found = [Violation(r.line, r.what, r.reason) for r in check_tree(tree, allowed_imports=set(allowed_imports))]
    names = _Names(sorted(forbidden), scope, _annotations(tree))
    names.visit(tree)
    unique: dict[tuple[int, str], Violation] = {}
    for violation in [*names.found, *found]:  # a forbidden built-in first: it names what was reached
        unique.setdefault((violation.line, violation.what), violation)
    return sorted(unique.values(), key=lambda v: (v.line, v.what))


def watched_operators(forbidden: list[str]) -> dict[str, str]:
    """ATen operator name -> the forbidden built-in, for the worker's run-time record."""
    table: dict[str, str] = {}
    for family in FAMILIES.values():
        named = [name for name in family.names if name in forbidden]  # the family's own order: its main name first
        for op in (family.operators if named else ()):
            table.setdefault(op, _closest(op, named))
    return table


def _closest(op: str, names: list[str]) -> str:
    """The built-in an operator belongs to: the longest F.* or nn.* name it spells (native_group_norm:
    F.group_norm), else the family's main name."""
    plain = op.replace("_", "").lower()
    matching = [n for n in names if _leaf(n).replace("_", "").lower() in plain]
    return max(matching, key=lambda n: (n.startswith("torch.nn."), len(_leaf(n)))) if matching else names[0]


def evidence_operators(forbidden: list[str]) -> list[str]:
    """ATen operators one of which any implementation of a forbidden family's task runs (fail-closed record)."""
    return sorted({op for family in FAMILIES.values() if set(family.names) & set(forbidden)
                   for op in family.evidence})


def record_operators(forbidden: list[str]) -> dict[str, str]:
    """What the worker's operator record watches: the forbidden operators, and the evidence operators (mapped to
    ``EVIDENCE``) whose absence from a run with right answers shows that the record was bypassed."""
    return {**dict.fromkeys(evidence_operators(forbidden), EVIDENCE), **watched_operators(forbidden)}


__all__ = ["RECORD_OFF", "Violation", "check_source", "evidence_operators", "record_operators", "spellings",
           "watched_operators"]

