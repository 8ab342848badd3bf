"""A record of the PyTorch built-ins the learner's code uses, kept inside the worker.

Three signals, each a claim the judge weighs beside its own static reading of
the source (``grader.judge.rules``), never the only evidence:

- a TorchFunctionMode sees Python-level torch functions (``F.scaled_dot_product_attention``,
  ``torch.autograd.grad``, methods such as ``Tensor.backward``);
- a TorchDispatchMode sees the ATen operators actually executed, for the
  operator names the judge asked to watch (``_scaled_dot_product_flash_attention_for_cpu``,
  ``native_layer_norm``, ...), whatever Python spelling reached them;
- a scan of the learner's modules finds instances of built-in module classes.

The record fails closed. After every call it checks that its modes are still where it put them
(not popped, not disabled, nothing pushed above them) and says so (``RECORD_OFF``) when they are not;
and it says when it saw an operator that any implementation of the task must run (``EVIDENCE_SEEN``,
for the operators the judge mapped to ``EVIDENCE``), so that a right answer computed out of its sight
shows as one. Both are claims: the judge's reading of the source decides.
"""

from __future__ import annotations

import importlib
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

# Markers shared with the judge (grader/judge/families.py holds the same strings; a test checks they agree).
EVIDENCE = "record:evidence"  # the judge maps an operator to this: seeing it shows the record was on
EVIDENCE_SEEN = "record:evidence-seen"
RECORD_OFF = "the record of what ran was switched off"


def resolve(dotted: str) -> Any | None:
    """The object a dotted name stands for: a function, a class or a method (torch.Tensor.backward)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


class _Functions(TorchFunctionMode):
    def __init__(self, record: "BuiltinRecord"):
        super().__init__()
        self.record = record

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = self.record.functions.get(id(func))
        if name:
            self.record.called.add(name)
        return func(*args, **(kwargs or {}))


class _Operators(TorchDispatchMode):
    def __init__(self, record: "BuiltinRecord"):
        super().__init__()
        self.record = record

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = self.record.operators.get(func.overloadpacket.__name__)
        if name == EVIDENCE:
            self.record.evidence_seen = True
        elif name:
            self.record.called.add(name)
        return func(*args, **(kwargs or {}))


# TorchDispatchMode wraps __torch_dispatch__ so that torch.compile skips it, importing all of torch._dynamo
# (sympy included, ~2.5 s) on the first operator of every fresh worker. Nothing here is ever compiled (the
# built-in rule refuses torch.compile where operators are watched): tell the wrapper it is done already.
_raw = _Operators.__dict__["__torch_dispatch__"]
for _fn in (getattr(_raw, "__wrapped__", None), _raw):
    if callable(_fn):
        _fn.__dynamo_disable = getattr(_raw, "__wrapped__", _raw)  # noqa: B010 - the attribute torch looks up


class BuiltinRecord:
    """``names``: dotted Python names to record; ``operators``: ATen name -> the dotted name it stands for."""

    def __init__(self, names: list[str], operators: dict[str, str] | None = None):
        self.functions: dict[int, str] = {}
        self.classes: list[tuple[type, str]] = []
        for name in names:
            obj = resolve(name)
            if isinstance(obj, type):
                self.classes.append((obj, name))
            elif obj is not None:
                self.functions[id(obj)] = name
        self.operators = dict(operators or {})
        self.called: set[str] = set()
        self.evidence_seen = False

    @contextmanager
    def watching(self, *, operators: bool = True):
        """Record while learner code runs. The operator record costs a Python call per ATen op:
        training loops run without it (their models are graded under it afterwards)."""
        dispatch = _Operators(self) if operators and self.operators else None
        functions = _Functions(self)
        before = (list(_function_modes()), list(_get_current_dispatch_mode_stack()))
        stack = ExitStack()
        try:
            if dispatch is not None:
                stack.enter_context(dispatch)
            stack.enter_context(functions)
            yield
        finally:
            if not self._intact(functions, dispatch, before):
                self.called.add(RECORD_OFF)
            try:
                stack.close()
            except Exception:  # noqa: BLE001 - a mode stack the learner's code rearranged cannot be unwound cleanly
                self.called.add(RECORD_OFF)

    @staticmethod
    def _intact(functions: _Functions, dispatch: _Operators | None, before: tuple[list, list]) -> bool:
        """Our modes on top of the stacks as we left them, and torch functions not disabled."""
        function_modes, dispatch_modes = list(_function_modes()), list(_get_current_dispatch_mode_stack())
        if not torch._C._is_torch_function_enabled() or function_modes != [*before[0], functions]:
            return False
        return dispatch_modes == ([*before[1], dispatch] if dispatch is not None else before[1])

    def scan(self, obj: Any, harness_owned: set[int]) -> None:
        """Record built-in module classes used inside a learner's module."""
        if not isinstance(obj, torch.nn.Module) or id(obj) in harness_owned:
            return
        for sub in obj.modules():
            for cls, name in self.classes:
                if isinstance(sub, cls):
                    self.called.add(name)

    def take(self) -> list[str]:
        called, self.called = sorted(self.called), set()
        if self.evidence_seen:
            called.append(EVIDENCE_SEEN)
        return called


def _function_modes() -> list:
    from torch.overrides import _get_current_function_mode_stack

    return _get_current_function_mode_stack()
