"""Detects calls to PyTorch built-ins that a milestone asks you to write yourself.

Runs inside the worker: a TorchFunctionMode sees every torch function call
(including those made inside nn.Modules), and a scan of the learner's modules
finds instances of built-in module classes.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch.overrides import TorchFunctionMode


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


class BuiltinTracker:
    def __init__(self, names: list[str]):
        self.functions: dict[int, str] = {}
        self.classes: list[tuple[type, str]] = []
        for name in names:
            obj = resolve(name)
            if isinstance(obj, type):
                self.classes.append((obj, name))
            elif obj is not None:
                self.functions[id(obj)] = name
        self.called: set[str] = set()

    def mode(self) -> TorchFunctionMode:
        tracker = self

        class _Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = tracker.functions.get(id(func))
                if name:
                    tracker.called.add(name)
                return func(*args, **(kwargs or {}))

        return _Mode()

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
        return called
