"""The wire format between judge and worker.

A message is a JSON header plus an optional safetensors blob, each
length-prefixed. Values are JSON with tensors replaced by ``{"__tensor__": name}``
references into the blob. Decoding never executes code: JSON and safetensors
only. Anything else a learner returns arrives as ``Unsupported(type_name)``, so
an object with a lying ``__eq__`` can never reach a comparison. What a message
holds (its fields and their types) is ``grader.messages``.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from grader.messages import ProtocolError

MAX_HEADER = 4 * 1024 * 1024  # JSON of plain values; tensors travel in the blob
MAX_BLOB = 2 * 1024 * 1024 * 1024  # the protocol's own ceiling; readers pass the size they expect
_PREFIX = struct.Struct(">IQ")


@dataclass(frozen=True)
class Unsupported:
    """A value of a type that cannot cross the boundary (shown by its type name)."""

    type_name: str


@dataclass(frozen=True)
class GeneratorSeed:
    """A torch.Generator to create in the worker, seeded so: generators cannot cross as tensors."""

    seed: int


@dataclass(frozen=True)
class Handle:
    """A reference to an object living in the worker."""

    id: int


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor) and type(value) is torch.Tensor or isinstance(value, torch.nn.Parameter):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().to("cpu").contiguous().clone()
        return {"__tensor__": name}
    if isinstance(value, Handle):
        return {"__handle__": value.id}
    if isinstance(value, GeneratorSeed):
        return {"__generator__": int(value.seed)}
    if isinstance(value, Unsupported):
        return {"__unsupported__": value.type_name}
    if value is None or isinstance(value, (bool, str)) or type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return [_encode(item, tensors) for item in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {"__dict__": {k: _encode(v, tensors) for k, v in value.items()}}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    return {"__unsupported__": type(value).__qualname__}


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(item, tensors) for item in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            try:
                return tensors[value["__tensor__"]]
            except KeyError:
                raise ProtocolError(f"missing tensor {value['__tensor__']!r}") from None
        if "__handle__" in value:
            return Handle(int(value["__handle__"]))
        if "__generator__" in value:
            return GeneratorSeed(int(value["__generator__"]))
        if "__unsupported__" in value:
            return Unsupported(str(value["__unsupported__"]))
        if "__float__" in value:
            return float(value["__float__"])
        if "__dtype__" in value:
            dtype = getattr(torch, str(value["__dtype__"]), None)
            if not isinstance(dtype, torch.dtype):
                raise ProtocolError(f"unknown dtype {value['__dtype__']!r}")
            return dtype
        if "__dict__" in value:
            return {str(k): _decode(v, tensors) for k, v in value["__dict__"].items()}
        raise ProtocolError("unexpected mapping in message")
    return value


def encode_message(message: dict[str, Any]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    header = json.dumps(_encode(message, tensors)["__dict__"], allow_nan=False).encode("utf-8")
    blob = st_save(tensors) if tensors else b""
    return _PREFIX.pack(len(header), len(blob)) + header + blob


def decode_message(header: bytes, blob: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(header)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise ProtocolError(f"header is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("header is not an object")
    try:
        tensors = st_load(blob) if blob else {}
    except Exception as error:  # safetensors raises its own error types
        raise ProtocolError(f"tensor blob is invalid: {error}") from None
    try:
        return {str(k): _decode(v, tensors) for k, v in raw.items()}
    except ProtocolError:
        raise
    except (ValueError, TypeError, AttributeError, RecursionError) as error:
        # e.g. {"__dict__": [1]} or {"__handle__": "x"}: before, these escaped as plain
        # exceptions, the judge's reader thread died and the run waited for a timeout
        raise ProtocolError(f"malformed value in message: {type(error).__name__}: {error}") from None


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(encode_message(message))
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("stream closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class MessageTooLarge(ProtocolError):
    """A message bigger than the reader accepts, refused before its body was read."""


def read_message(stream: BinaryIO, *, max_header: int = MAX_HEADER,
                 max_blob: int | Callable[[], int] = MAX_BLOB) -> dict[str, Any]:
    """The next message; one larger than ``max_header``/``max_blob`` bytes is refused unread. ``max_blob`` may be
    a function, asked once the message's size has arrived: a reader that waits for the answer to a request not
    yet sent must apply that request's limit, not the last one's."""
    prefix = stream.read(_PREFIX.size)
    if not prefix:
        raise EOFError("stream closed")
    if len(prefix) < _PREFIX.size:
        prefix += _read_exact(stream, _PREFIX.size - len(prefix))
    header_size, blob_size = _PREFIX.unpack(prefix)
    max_blob = max_blob() if callable(max_blob) else max_blob
    if header_size > min(max_header, MAX_HEADER) or blob_size > min(max_blob, MAX_BLOB):
        raise MessageTooLarge(f"a message of {header_size + blob_size:,} bytes where at most "
                              f"{min(max_header, MAX_HEADER) + min(max_blob, MAX_BLOB):,} were expected")
    header = _read_exact(stream, header_size)
    blob = _read_exact(stream, blob_size) if blob_size else b""
    return decode_message(header, blob)
