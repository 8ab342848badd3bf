"""The built-in rule, decided by the judge from the learner's source text.

The source is read and parsed with ``ast``, never imported. A run that
forbids some built-ins fails the rule when the source reaches one of them
under any spelling:

- its Python name, through any import or alias (``F.scaled_dot_product_attention``,
  ``from torch.nn import functional as G; G.scaled_dot_product_attention``);
- the ATen operators and fused variants behind it (``torch.ops.aten._scaled_dot_product_flash_attention_for_cpu``);
- the module classes that call it (``nn.LayerNorm`` for ``F.layer_norm``);
- a string naming one of those, e.g. for ``getattr``;

or when it uses a construct that hides what it calls or tampers with the
record the worker keeps: ``torch._C``, ``torch.overrides``, dispatch-mode
internals, ``DisableTorchFunction``, ``gc``, ``inspect``, ``sys.modules``,
frame access, ``eval``/``exec``/``compile``/``__import__``/``importlib``,
``getattr``/``setattr`` with a computed name on a torch object, imports of the
harness's own packages, ``torch.compile``/``torch.jit``.

The worker's record of what ran (``grader.worker.record``) is a second
signal: a claim that can add a violation, never clear one.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

# What else reaches each built-in: ATen operators (also watched at run time) and module classes.
OPERATORS: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.scaled_dot_product_attention": (
        "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_fused_attention_overrideable",
        "_scaled_dot_product_attention_math_for_mps", "_fused_sdp_choice", "_efficient_attention_forward",
        "_flash_attention_forward"),
    "torch.nn.MultiheadAttention": ("_native_multi_head_attention",),
    "torch.nn.functional.multi_head_attention_forward": ("_native_multi_head_attention",),
    "torch.nn.TransformerEncoderLayer": ("_transformer_encoder_layer_fwd",),
    "torch.nn.TransformerEncoder": ("_transformer_encoder_layer_fwd",),
    "torch.nn.functional.layer_norm": ("native_layer_norm",),
}
CLASSES: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.layer_norm": ("LayerNorm",),
    "torch.nn.functional.multi_head_attention_forward": ("MultiheadAttention",),
    "torch.nn.MultiheadAttention": ("multi_head_attention_forward",),
    "torch.autograd.backward": ("run_backward", "_engine_run_backward"),
    "torch.Tensor.backward": ("run_backward", "_engine_run_backward"),
    "torch.autograd.grad": ("_engine_run_backward",),
}
EVASIONS: dict[str, str] = {
    "torch._C": "reaches PyTorch's C++ bindings directly",
    "torch.overrides": "changes which torch functions are seen",
    "torch.utils._python_dispatch": "changes which operators are seen",
    "torch._dynamo": "compiles code out of sight", "torch.compile": "compiles code out of sight",
    "torch.jit": "compiles code out of sight", "torch.library": "replaces operators",
    "torch._ops": "reaches operators by name",
}
HIDING_NAMES: dict[str, str] = {
    "DisableTorchFunction": "turns off the record of torch functions",
    "DisableTorchFunctionSubclass": "turns off the record of torch functions",
    "_pop_mode_temporarily": "turns off the record of torch functions",
    "_pop_mode": "turns off the record of torch functions",
    "_disable_current_modes": "turns off the record of operators",
    "_get_current_dispatch_mode": "reaches the record of operators",
    "_getframe": "walks the interpreter's frames", "f_back": "walks the interpreter's frames",
    "f_globals": "walks the interpreter's frames", "f_locals": "walks the interpreter's frames",
    "__subclasses__": "walks the class hierarchy", "__globals__": "reaches another function's globals",
    "__builtins__": "reaches the builtins by hand", "__dict__": "looks names up at run time",
    "__getattr__": "looks names up at run time", "__getattribute__": "looks names up at run time",
    "attrgetter": "looks names up at run time", "methodcaller": "looks names up at run time",
}
HIDING_MODULES = {"gc": "walks every object in memory", "inspect": "walks the interpreter's frames",
                  "importlib": "imports by computed name", "builtins": "reaches the builtins by hand",
                  "ctypes": "calls native code directly", "grader": "reaches the harness",
                  "challenge": "reaches the harness", "milestones": "reaches the harness"}
HIDING_CALLS = {"eval": "runs code built at run time", "exec": "runs code built at run time",
                "compile": "compiles code built at run time", "__import__": "imports by computed name",
                "globals": "reaches globals by name", "vars": "reaches attributes by name"}
TORCH_ROOTS = ("torch",)


@dataclass(frozen=True)
class Violation:
    line: int
    what: str  # the spelling found, e.g. "F.scaled_dot_product_attention"
    reason: str  # "is torch.nn.functional.scaled_dot_product_attention" / "hides what it calls: ..."
    builtin: str = ""  # the forbidden built-in it reaches, when it reaches one

    def describe(self) -> str:
        return f"line {self.line}: {self.what} {self.reason}"


def _leaf(dotted: str) -> str:
    return dotted.rsplit(".", 1)[-1]


def spellings(forbidden: list[str]) -> dict[str, str]:
    """identifier -> the forbidden built-in it reaches."""
    table: dict[str, str] = {}
    for name in forbidden:
        for spelling in (_leaf(name), *OPERATORS.get(name, ()), *CLASSES.get(name, ())):
            table.setdefault(spelling, name)
    return table


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Reader(ast.NodeVisitor):
    def __init__(self, forbidden: list[str]):
        self.table = spellings(forbidden)
        self.methods = {_leaf(n): n for n in forbidden if n.startswith("torch.Tensor.")}
        self.torch_names: dict[str, str] = {}  # local name -> the torch path it stands for
        self.modules: set[str] = set()  # local names bound by any import (their attributes are checked too)
        self.found: list[Violation] = []

    def add(self, node: ast.AST, what: str, reason: str, builtin: str = "") -> None:
        self.found.append(Violation(getattr(node, "lineno", 0), what, reason, builtin))

    def torch_path(self, node: ast.AST) -> str | None:
        """The torch path an expression stands for, if it is rooted at torch (through any alias)."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.torch_names:
            return self.torch_names[head] + (f".{rest}" if rest else "")
        return None

    def check_path(self, node: ast.AST, path: str, shown: str) -> None:
        for part in path.split(".")[1:]:
            if part in self.table:
                builtin = self.table[part]
                self.add(node, shown, f"is {builtin}" if _leaf(builtin) == part else f"reaches {builtin}", builtin)
                return
        for prefix, reason in EVASIONS.items():
            if path == prefix or path.startswith(prefix + "."):
                self.add(node, shown, f"hides what it calls: it {reason}")
                return

    # -- imports and aliases ---------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            self.modules.add(alias.asname or top)
            if top in TORCH_ROOTS:
                local = alias.asname or top
                self.torch_names[local] = alias.name if alias.asname else top
                self.check_path(node, alias.name, f"import {alias.name}")
            elif top in HIDING_MODULES:
                self.add(node, f"import {alias.name}", f"hides what it calls: it {HIDING_MODULES[top]}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        top = module.split(".")[0]
        self.modules.update(alias.asname or alias.name for alias in node.names)
        if node.level == 0 and top in TORCH_ROOTS:
            for alias in node.names:
                path = f"{module}.{alias.name}"
                self.torch_names[alias.asname or alias.name] = path
                self.check_path(node, path, f"from {module} import {alias.name}")
                if alias.name in HIDING_NAMES:
                    self.add(node, f"from {module} import {alias.name}",
                             f"hides what it calls: it {HIDING_NAMES[alias.name]}")
        elif node.level == 0 and top in HIDING_MODULES:
            self.add(node, f"from {module} import ...", f"hides what it calls: it {HIDING_MODULES[top]}")
        elif node.level == 0 and module == "sys" and any(a.name in ("modules", "_getframe") for a in node.names):
            self.add(node, "from sys import ...", "hides what it calls: it reaches loaded modules by name")

    def _holds_torch(self, value: ast.AST) -> str | None:
        """The torch path a value holds (``torch.nn.functional``, ``[F]``), not counting what calls return."""
        path = self.torch_path(value)
        if path is not None:
            return path
        called = {id(n.func) for n in ast.walk(value) if isinstance(n, ast.Call)}
        for sub in ast.walk(value):
            if isinstance(sub, (ast.Name, ast.Attribute)) and id(sub) not in called:
                path = self.torch_path(sub)
                if path is not None:
                    return path
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if "__all__" in names:
            return  # a list of the learner's own names
        path = self._holds_torch(node.value)
        if path is not None:  # m = torch.nn.functional, ms = [F]: torch from here on (flow-insensitive on purpose)
            for name in names:
                self.torch_names[name] = path
        self.generic_visit(node)

    # -- uses --------------------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = self.torch_path(node)
        dotted = _dotted(node)
        if path is not None:
            self.check_path(node, path, dotted or node.attr)
        elif dotted is not None and dotted.split(".")[0] in self.modules:  # e.g. safetensors.torch.torch.nn....
            self.check_path(node, "module." + dotted.split(".", 1)[1], dotted)
        elif node.attr in self.methods:
            builtin = self.methods[node.attr]
            self.add(node, f".{node.attr}", f"is {builtin}", builtin)
        if node.attr in HIDING_NAMES:
            self.add(node, f".{node.attr}", f"hides what it calls: it {HIDING_NAMES[node.attr]}")
        if node.attr == "modules" and _dotted(node.value) == "sys":
            self.add(node, "sys.modules", "hides what it calls: it reaches loaded modules by name")
        elif node.attr == "_getframe" and _dotted(node.value) == "sys":
            pass  # reported through HIDING_NAMES
        if path is None and not (dotted and dotted.split(".")[0] in self.modules):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in HIDING_NAMES:
            self.add(node, node.id, f"hides what it calls: it {HIDING_NAMES[node.id]}")
        path = self.torch_names.get(node.id)
        if path is not None and isinstance(node.ctx, ast.Load) and node.id != path.split(".")[0]:
            self.check_path(node, path, node.id)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in HIDING_CALLS and func.id not in self.torch_names:
            self.add(node, f"{func.id}(...)", f"hides what it calls: it {HIDING_CALLS[func.id]}")
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            self._check_string(argument)
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr", "hasattr") and node.args:
            target = self._holds_torch(node.args[0])
            name = node.args[1] if len(node.args) > 1 else None
            if target is not None:
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    self.check_path(node, f"{target}.{name.value}", f"{func.id}({_dotted(node.args[0])}, "
                                                                      f"{name.value!r})")
                    if func.id != "getattr" and func.id != "hasattr":
                        self.add(node, f"{func.id}({_dotted(node.args[0])}, ...)",
                                 "hides what it calls: it changes torch itself")
                else:
                    self.add(node, f"{func.id}({_dotted(node.args[0])}, <computed>)",
                             "hides what it calls: it looks a torch name up at run time")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._check_string(node.slice)
        self.generic_visit(node)

    def _check_string(self, node: ast.AST) -> None:
        """A string handed to a call or an index (getattr, attrgetter, a dict lookup) that names a built-in."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.rsplit(".", 1)[-1]
            if name in self.table:
                builtin = self.table[name]
                self.add(node, repr(node.value), f"names {builtin}", builtin)


def check_source(source: str, *, forbidden: list[str]) -> list[Violation]:
    """Every violation of the built-in rule in ``source``; [] when nothing is forbidden.

    Raises ``SyntaxError`` (or ``ValueError`` for null bytes) when the source does not parse.
    """
    if not forbidden:
        return []
    tree = _without_annotations(ast.parse(source))
    reader = _Reader(sorted(forbidden))
    reader.visit(tree)
    unique: dict[tuple[int, str], Violation] = {}
    for violation in reader.found:
        unique.setdefault((violation.line, violation.what), violation)
    return sorted(unique.values(), key=lambda v: (v.line, v.what))


def _without_annotations(tree: ast.AST) -> ast.AST:
    """Type annotations name classes without using them (``def load(self, mha: nn.MultiheadAttention)``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        elif isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
    return tree


def watched_operators(forbidden: list[str]) -> dict[str, str]:
    """ATen operator name -> the forbidden built-in, for the worker's run-time record."""
    return {op: name for name in forbidden for op in OPERATORS.get(name, ())}
