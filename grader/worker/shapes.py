"""Shapes without tensors: what PyTorch's shape-changing operations would give, in plain Python.

Used to describe a crash (``grader.worker.crash``). Meta tensors would do the same, but their
failing paths import ``torch._dynamo`` (about 3 s in a fresh worker); these rules cost
microseconds and run no learner code. An operation the rules do not know is simply not described.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grader.errors import GraderError

CASTS = {"float": "float32", "double": "float64", "half": "float16", "bool": "bool", "long": "int64",
         "int": "int32", "bfloat16": "bfloat16"}
SAME = {"contiguous", "softmax", "log_softmax", "tril", "triu", "clone", "detach", "relu", "exp", "abs",
        "sqrt"}


class ShapeError(GraderError):
    """The operation cannot take these shapes (PyTorch would raise)."""


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x, y = (a[-i] if i <= len(a) else 1), (b[-i] if i <= len(b) else 1)
        if x != y and 1 not in (x, y):
            raise ShapeError(f"{x} vs {y}")
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _dim(d: int, n: int) -> int:
    if not -max(n, 1) <= d < max(n, 1):
        raise ShapeError(f"dim {d}")
    return d % max(n, 1)


@dataclass(frozen=True)
class Shape:
    dims: tuple[int, ...]
    dtype: str

    def binary(self, op: str, other: "Shape") -> "Shape":
        if op in ("@", "matmul", "bmm"):
            return self.matmul(other)
        dims = broadcast(self.dims, other.dims)
        return Shape(dims, "bool" if op == "==" else self.dtype)

    def matmul(self, other: "Shape") -> "Shape":
        a, b = self.dims, other.dims
        if not a or not b:
            raise ShapeError("0-d")
        a2, b2 = (a if len(a) > 1 else (1, *a)), (b if len(b) > 1 else (*b, 1))
        if a2[-1] != b2[-2]:
            raise ShapeError("inner")
        batch = broadcast(a2[:-2], b2[:-2])
        dims = (*batch, *(a2[-2:-1] if len(a) > 1 else ()), *(b2[-1:] if len(b) > 1 else ()))
        return Shape(dims, self.dtype)

    def index(self, index) -> "Shape":
        items = list(index) if isinstance(index, tuple) else [index]
        if any(isinstance(i, Shape) for i in items):
            raise ShapeError("tensor index")
        consuming = sum(1 for i in items if i is not None and i is not Ellipsis)
        if consuming > len(self.dims) or items.count(Ellipsis) > 1:
            raise ShapeError("too many indices")
        if Ellipsis in items:
            at = items.index(Ellipsis)
            items[at:at + 1] = [slice(None)] * (len(self.dims) - consuming)
        items += [slice(None)] * (len(self.dims) - sum(1 for i in items if i is not None))
        dims, source = [], 0
        for item in items:
            if item is None:
                dims.append(1)
                continue
            size = self.dims[source]
            source += 1
            if isinstance(item, slice):
                dims.append(len(range(*item.indices(size))))
            elif isinstance(item, int):
                if not -size <= item < size:
                    raise ShapeError("out of range")
            else:
                raise ShapeError("index")
        return Shape(tuple(dims), self.dtype)

    def method(self, name: str, args: list, kwargs: dict) -> "Shape":
        d, n = list(self.dims), len(self.dims)
        sizes = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
        if name in CASTS:
            return Shape(self.dims, CASTS[name])
        if name in SAME:
            return self
        if name in ("T", "t"):
            return Shape(tuple(reversed(self.dims)), self.dtype) if n <= 2 or name == "T" else _raise()
        if name == "mT":
            name, args = "transpose", [-2, -1]
        if name == "unsqueeze":
            d.insert(_dim(args[0], n + 1), 1)
            return Shape(tuple(d), self.dtype)
        if name == "squeeze":
            if not args:
                return Shape(tuple(s for s in d if s != 1), self.dtype)
            at = _dim(args[0], n)
            return Shape(tuple(s for i, s in enumerate(d) if i != at or s != 1), self.dtype)
        if name in ("transpose", "swapaxes"):
            i, j = _dim(args[0], n), _dim(args[1], n)
            d[i], d[j] = d[j], d[i]
            return Shape(tuple(d), self.dtype)
        if name == "permute":
            order = [_dim(a, n) for a in sizes]
            if sorted(order) != list(range(n)):
                raise ShapeError("permute")
            return Shape(tuple(d[i] for i in order), self.dtype)
        if name in ("view", "reshape"):
            return Shape(_reshape(self.dims, sizes), self.dtype)
        if name in ("view_as", "reshape_as", "expand_as"):
            other = args[0]
            if name == "expand_as":
                return self.method("expand", list(other.dims), {})
            return Shape(_reshape(self.dims, other.dims), self.dtype)
        if name == "flatten":
            start, end = _dim(args[0] if args else 0, n), _dim(args[1] if len(args) > 1 else -1, n)
            return Shape((*d[:start], math.prod(d[start:end + 1]), *d[end + 1:]), self.dtype)
        if name == "expand":
            if len(sizes) < n:
                raise ShapeError("expand")
            own = [1] * (len(sizes) - n) + d
            out = []
            for s, want in zip(own, sizes):
                if want != -1 and s != want and s != 1:
                    raise ShapeError("expand")
                out.append(s if want == -1 else want)
            return Shape(tuple(out), self.dtype)
        if name == "repeat":
            if len(sizes) < n:
                raise ShapeError("repeat")
            own = [1] * (len(sizes) - n) + d
            return Shape(tuple(s * r for s, r in zip(own, sizes)), self.dtype)
        if name in ("sum", "mean", "amax"):
            dim, keep = (args[0] if args else kwargs.get("dim")), bool(kwargs.get("keepdim", len(args) > 1 and args[1]))
            if dim is None:
                return Shape((), self.dtype)
            at = {_dim(x, n) for x in (dim if isinstance(dim, tuple) else (dim,))}
            return Shape(tuple(1 if i in at else s for i, s in enumerate(d) if keep or i not in at), self.dtype)
        if name in ("masked_fill", "masked_fill_"):  # out of place the result broadcasts; in place it cannot grow
            dims = broadcast(self.dims, args[0].dims)
            if name == "masked_fill_" and dims != self.dims:
                raise ShapeError("mask")
            return Shape(dims, self.dtype)
        if name in ("matmul", "bmm"):
            return self.matmul(args[0])
        raise LookupError(name)


def _raise():
    raise ShapeError("t() takes at most 2-D")


def _reshape(dims: tuple[int, ...], sizes: tuple) -> tuple[int, ...]:
    if not all(isinstance(s, int) for s in sizes) or list(sizes).count(-1) > 1:
        raise ShapeError("sizes")
    total, known = math.prod(dims), math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if known == 0 or total % known:
            raise ShapeError("reshape")
        return tuple(total // known if s == -1 else s for s in sizes)
    if known != total:
        raise ShapeError("reshape")
    return tuple(sizes)
