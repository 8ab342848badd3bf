"""The subset of Python a milestone file may use while a built-in is forbidden: an allow-list over its AST.

A deny-list of spellings cannot be complete (``g = getattr``, ``functools.reduce(getattr, ...)``,
``sys.modules`` through an alias, a module written at run time and imported...). So while a milestone
forbids a built-in, its file must stay inside a subset in which every call is spelled out:

- imports only from ``DEFAULT_IMPORTS`` and what the milestone's yaml adds (``builtins.allowed_imports``);
- attributes only by names written in the source: no ``getattr``/``setattr``/``vars``/``eval``... at all
  (not called, not aliased, not even named), and a module may only be used as ``module.name``, never
  passed around, stored or returned;
- no private attributes of anything but the learner's own objects, no dunders but ``__init__`` and the like,
  no special methods that change how Python or PyTorch dispatch (``__torch_function__``, ``__getattr__``);
- nothing that writes files, loads pickles, compiles code or reaches the interpreter (frames, ``sys``, ``gc``).

Everything is walked: annotations, decorators, default arguments, lambdas, f-strings, comprehensions,
``match`` patterns. The check never imports or runs the learner's code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

DEFAULT_IMPORTS = frozenset({"torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.optim", "math",
                             "typing", "dataclasses", "__future__", "collections", "collections.abc", "itertools"})

# Built-in names that look things up by computed name, run code built at run time, or reach the interpreter.
REFUSED_BUILTINS: dict[str, str] = {
    **dict.fromkeys(("getattr", "setattr", "delattr", "hasattr"),
                    "computed attribute names are not allowed in milestone files: use nn.ModuleList or a dict "
                    "instead of getattr(self, f'layer{i}')"),
    **dict.fromkeys(("vars", "globals", "locals", "dir"),
                    "looking names up at run time is not allowed in milestone files: refer to things by name"),
    **dict.fromkeys(("eval", "exec", "compile", "__import__", "breakpoint", "help", "input", "exit", "quit"),
                    "running code built at run time is not allowed in milestone files: write the code itself"),
    "open": "milestone files do not read or write files: the tests hand your code everything it needs",
}

# Attribute names never allowed, on anything: they reach PyTorch's dispatch, the interpreter, or files.
HARD_ATTRIBUTES: dict[str, str] = {
    "_C": "reaches PyTorch's C++ bindings directly",
    **dict.fromkeys(("DisableTorchFunction", "DisableTorchFunctionSubclass", "TorchFunctionMode", "TorchDispatchMode",
                     "set_default_device"), "changes which torch functions the record of what ran sees"),
    **dict.fromkeys(("f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next", "gi_frame",
                     "gi_code", "cr_frame", "ag_frame", "co_code", "co_consts", "co_names"),
                    "walks the interpreter's frames"),
    **dict.fromkeys(("tofile", "write_text", "write_bytes", "serialization", "add_safe_globals", "safe_globals"),
                    "writes or loads files (and pickles)"),
    **dict.fromkeys(("get_type_hints", "ForwardRef", "make_dataclass", "evaluate_forward_ref"),
                    "evaluates text as code"),
}
# Attribute names refused unless the learner's own code defines them (self.ops = ..., def compile(self)).
SOFT_ATTRIBUTES: dict[str, str] = {
    **dict.fromkeys(("ops", "library", "overrides", "classes"), "reaches PyTorch's operators by name"),
    **dict.fromkeys(("save", "load", "dump"), "writes or loads files (and pickles)"),
    **dict.fromkeys(("jit", "compile", "export", "fx", "hub", "package", "cpp_extension"),
                    "compiles or loads code out of sight"),
    **dict.fromkeys(("pickle", "marshal", "importlib", "ctypes", "sys", "os", "posix", "gc", "inspect", "functools",
                     "operator", "builtins", "subprocess", "shutil", "types", "threading", "multiprocessing",
                     "socket", "signal", "weakref", "copyreg", "runpy", "tempfile", "pathlib", "io", "dis",
                     "traceback", "codeop", "pdb", "linecache", "pkgutil", "zipimport", "site", "mmap", "shelve",
                     "ast", "atexit", "faulthandler", "sysconfig", "platform", "resource", "asyncio", "logging",
                     "contextvars"),
                    "reaches a module that milestone files may not use"),
}
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__qualname__", "__doc__"})
ALLOWED_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__all__", "__slots__", "__file__"})
# Special methods a class may not define: they change how attributes are found or how torch dispatches.
REFUSED_SPECIAL_METHODS = frozenset({
    "__torch_function__", "__torch_dispatch__", "__getattr__", "__getattribute__", "__setattr__", "__delattr__",
    "__del__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__init_subclass__",
    "__class_getitem__", "__set_name__", "__new__", "__prepare__", "__instancecheck__", "__subclasscheck__",
    "__get__", "__set__", "__delete__", "__mro_entries__", "__build_class__", "__import__"})
_DUNDER = re.compile(r"^__\w+__$")
_FORMAT_DUNDER = re.compile(r"\{[^{}]*(\.|\[)_")  # "{0.__class__}".format(x), "{0._C}"
MODULE_NAMES = frozenset({"nn", "functional", "F", "init", "optim", "modules", "utils", "autograd", "linalg",
                          "special", "fft", "cuda", "backends", "distributions", "func", "torch", "math", "typing",
                          "dataclasses", "activation", "normalization", "transformer", "module", "random",
                          "lr_scheduler", "testing", "amp", "sparse", "nested", "masked", "signal", "profiler",
                          "onnx", "distributed", "futures", "storage", "types", "version", "quantization", "ao",
                          "mps", "xpu", "mtia", "accelerator", "compiler", "monitor", "return_types",
                          "parametrize", "parametrizations"})


@dataclass(frozen=True)
class Refusal:
    line: int
    what: str  # the spelling found
    reason: str  # why it is outside the subset, in the learner's terms


class _Scope:
    """What the whole file defines, gathered before the check: attribute names it stores and names it imports."""

    def __init__(self, tree: ast.AST):
        self.own_attributes: set[str] = set()
        self.module_aliases: set[str] = set()
        self.parents: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                self.own_attributes.add(node.attr)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        self.own_attributes.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        self.own_attributes.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        self.own_attributes.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.module_aliases.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                self.module_aliases.update(alias.asname or alias.name for alias in node.names
                                           if alias.name in MODULE_NAMES)


def root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "(...)")
    return ".".join(reversed(parts))


class _Checker(ast.NodeVisitor):
    def __init__(self, scope: _Scope, allowed_imports: frozenset[str]):
        self.scope = scope
        self.allowed_imports = allowed_imports
        self.found: list[Refusal] = []

    def refuse(self, node: ast.AST, what: str, reason: str) -> None:
        self.found.append(Refusal(getattr(node, "lineno", 0), what, reason))

    def on_module(self, node: ast.AST) -> bool:
        """Whether an attribute chain starts at an imported module (torch.x.y, F.x)."""
        return root_name(node) in self.scope.module_aliases

    # -- imports ------------------------------------------------------------------------------------
    def import_allowed(self, module: str) -> bool:
        return module in self.allowed_imports

    def _import_reason(self, module: str) -> str:
        allowed = ", ".join(sorted(self.allowed_imports))
        return f"imports are limited in milestone files to: {allowed}"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not self.import_allowed(alias.name):
                self.refuse(node, f"import {alias.name}", self._import_reason(alias.name))
            for part in alias.name.split(".")[1:]:
                self.check_attribute_name(node, part, f"import {alias.name}", on_module=True)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.refuse(node, f"from {'.' * node.level}{module} import ...",
                        "relative imports are not allowed in milestone files: everything lives in this one file")
            return
        if not self.import_allowed(module):
            self.refuse(node, f"from {module} import ...", self._import_reason(module))
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"from {module} import *", "import names one by one, so that the file says "
                                                             "what it uses")
            else:
                self.check_attribute_name(node, alias.name, f"from {module} import {alias.name}", on_module=True)
        self.generic_visit(node)

    # -- names --------------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in REFUSED_BUILTINS:
            self.refuse(node, node.id, REFUSED_BUILTINS[node.id])
        elif _DUNDER.match(node.id) and node.id not in ALLOWED_DUNDER_NAMES:
            self.refuse(node, node.id, "double-underscore names reach Python's internals: they are not allowed "
                                       "in milestone files")
        elif node.id in self.scope.module_aliases and not self._used_as_attribute_base(node):
            if isinstance(node.ctx, ast.Load):
                self.refuse(node, node.id, f"a module may only be used as {node.id}.name in milestone files, "
                                           "not passed around, stored or returned")
            else:
                self.refuse(node, node.id, f"{node.id} names an imported module: give your own variable "
                                           "another name")

    def _called(self, node: ast.AST) -> bool:
        parent = self.scope.parents.get(id(node))
        return isinstance(parent, ast.Call) and parent.func is node

    def _used_as_attribute_base(self, node: ast.AST) -> bool:
        parent = self.scope.parents.get(id(node))
        return isinstance(parent, ast.Attribute) and parent.value is node

    # -- attributes ---------------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        module_chain = self.on_module(node)
        self.check_attribute_name(node, node.attr, dotted(node), on_module=module_chain)
        if module_chain and not isinstance(node.ctx, ast.Load):
            self.refuse(node, dotted(node), "changes PyTorch or a library module itself: milestone files may "
                                            "only use them")
        elif module_chain and node.attr in MODULE_NAMES and not self._used_as_attribute_base(node) \
                and not self._called(node):
            self.refuse(node, dotted(node), f"a module may only be used as {dotted(node)}.name in milestone "
                                            "files, not passed around, stored or returned")
        self.generic_visit(node)

    def check_attribute_name(self, node: ast.AST, name: str, shown: str, *, on_module: bool) -> None:
        own = name in self.scope.own_attributes and not on_module
        if _DUNDER.match(name):
            if name not in ALLOWED_DUNDERS:
                self.refuse(node, shown, "double-underscore attributes reach Python's internals: only __init__ "
                                         "and __name__ are allowed in milestone files")
        elif name in HARD_ATTRIBUTES:
            self.refuse(node, shown, f"is not allowed in milestone files: it {HARD_ATTRIBUTES[name]}")
        elif name.startswith("_") and not own:
            self.refuse(node, shown, "private attributes are allowed only on your own objects (self._cache): "
                                     "this one belongs to PyTorch or Python")
        elif name in SOFT_ATTRIBUTES and not own:
            self.refuse(node, shown, f"is not allowed in milestone files: it {SOFT_ATTRIBUTES[name]}")

    # -- definitions, calls, patterns, strings --------------------------------------------------------
    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in REFUSED_SPECIAL_METHODS or node.name in REFUSED_BUILTINS:
            self.refuse(node, f"def {node.name}", "this special method changes how Python finds attributes or how "
                                                  "PyTorch dispatches: it is not allowed in milestone files")
        for argument in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                         *(a for a in (node.args.vararg, node.args.kwarg) if a)):
            self._check_binding(argument, argument.arg)
        self.generic_visit(node)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for argument in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
            self._check_binding(argument, argument.arg)
        self.generic_visit(node)

    def _check_binding(self, node: ast.AST, name: str) -> None:
        if name in REFUSED_BUILTINS or name in self.scope.module_aliases or (
                _DUNDER.match(name) and name not in ALLOWED_DUNDER_NAMES):
            self.refuse(node, name, "this name is reserved in milestone files: call your variable something else")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for keyword in node.keywords:
            self.refuse(node, f"class {node.name}({keyword.arg}=...)", "class keywords (metaclass=...) change how "
                                                                       "classes are built: not allowed in milestone "
                                                                       "files")
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg == "weights_only":
            self.refuse(node.value, "weights_only=...", "loading pickles is not allowed in milestone files")
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for name in node.kwd_attrs:
            self.check_attribute_name(node, name, f"case ...({name}=...)", on_module=False)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._check_binding(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._check_binding(node, node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._check_binding(node, node.rest)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:
        bound = node.asname or node.name.split(".")[0]
        if bound in REFUSED_BUILTINS or (_DUNDER.match(bound) and bound not in ALLOWED_DUNDER_NAMES):
            self.refuse(node, bound, "this name is reserved in milestone files")

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._check_binding(node, name)

    visit_Nonlocal = visit_Global

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and not self._is_docstring(node):
            text = node.value
            if (_DUNDER.match(text) and text != "__main__") or _FORMAT_DUNDER.search(text):
                self.refuse(node, repr(text[:40]), "strings that name Python's internals are not allowed in "
                                                   "milestone files")

    def _is_docstring(self, node: ast.Constant) -> bool:
        parent = self.scope.parents.get(id(node))
        return isinstance(parent, ast.Expr)


def check_tree(tree: ast.AST, *, allowed_imports: frozenset[str] | set[str] = frozenset()) -> list[Refusal]:
    """Everything in ``tree`` outside the subset, in source order."""
    checker = _Checker(_Scope(tree), frozenset(DEFAULT_IMPORTS | set(allowed_imports)))
    checker.visit(tree)
    return checker.found
