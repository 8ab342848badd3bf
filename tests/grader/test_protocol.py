"""The wire format between judge and worker: round trips, limits, and malformed input.

A message is a length prefix, a JSON header and a safetensors blob. Decoding
must never run code: no pickle, only JSON and safetensors.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct

import pytest
import torch

from grader import protocol
from grader.protocol import (MAX_HEADER, Handle, ProtocolError, Unsupported, decode_message, encode_message,
                             read_message, write_message)


def round_trip(message: dict) -> dict:
    stream = io.BytesIO()
    write_message(stream, message)
    stream.seek(0)
    decoded = read_message(stream)
    assert stream.read() == b""  # exactly one message was written and read
    return decoded


def raw(header: bytes, blob: bytes = b"") -> io.BytesIO:
    return io.BytesIO(struct.pack(">IQ", len(header), len(blob)) + header + blob)


# -- round trips -------------------------------------------------------------------------------


def test_plain_values_and_nesting():
    message = {"none": None, "flag": True, "n": -3, "big": 2**70, "x": 1.5, "s": "ü ☃",
               "nested": {"a": [1, {"b": [None, "c"]}], "t": (1, (2, 3))}, "empty": {"l": [], "d": {}}}
    got = round_trip(message)
    assert got["nested"] == {"a": [1, {"b": [None, "c"]}], "t": [1, [2, 3]]}  # tuples arrive as lists
    assert {k: got[k] for k in ("none", "flag", "n", "big", "x", "s", "empty")} == \
        {k: message[k] for k in ("none", "flag", "n", "big", "x", "s", "empty")}
    assert type(got["flag"]) is bool and type(got["n"]) is int


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats(value):
    got = round_trip({"v": value, "l": [value]})["v"]
    assert math.isnan(got) if math.isnan(value) else got == value


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                                   torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_tensor_dtypes(dtype):
    tensor = (torch.arange(-6, 6).reshape(3, 4) % 3).to(dtype)
    got = round_trip({"t": tensor})["t"]
    assert got.dtype == dtype and got.shape == tensor.shape and torch.equal(got, tensor)


def test_special_tensors():
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    parameter = torch.nn.Parameter(torch.ones(2, requires_grad=True))
    message = {"scalar": torch.tensor(3.5), "empty": torch.empty(0, 3), "transposed": base.T,
               "strided": base[:, ::2], "parameter": parameter, "nan": torch.tensor([math.nan, math.inf, -1.0]),
               "same": [base, base]}
    got = round_trip(message)
    assert got["scalar"].shape == () and float(got["scalar"]) == 3.5
    assert got["empty"].shape == (0, 3)
    assert torch.equal(got["transposed"], base.T) and got["transposed"].is_contiguous()
    assert torch.equal(got["strided"], base[:, ::2])
    assert type(got["parameter"]) is torch.Tensor and not got["parameter"].requires_grad
    assert torch.equal(got["nan"].isnan(), torch.tensor([True, False, False])) and got["nan"][1] == math.inf
    assert torch.equal(got["same"][0], got["same"][1])


def test_decoded_tensors_do_not_share_memory_with_the_original():
    tensor = torch.zeros(3)
    got = round_trip({"t": tensor})["t"]
    got += 1
    assert torch.equal(tensor, torch.zeros(3))


def test_handles_dtypes_and_unsupported_values():
    got = round_trip({"h": Handle(7), "d": torch.bfloat16, "u": Unsupported("Foo (a Tensor subclass)")})
    assert got == {"h": Handle(7), "d": torch.bfloat16, "u": Unsupported("Foo (a Tensor subclass)")}


class _Sneaky(torch.Tensor):
    def __eq__(self, other):
        return True


class _AlwaysEqual:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value, type_name", [
    (torch.ones(2).as_subclass(_Sneaky), "_Sneaky"), (_AlwaysEqual(), "_AlwaysEqual"), (b"bytes", "bytes"),
    ({1, 2}, "set"), ({1: 2}, "dict"), (lambda: 0, "function"), (torch.Generator(), "Generator"),
])
def test_anything_else_arrives_as_unsupported(value, type_name):
    got = round_trip({"v": value})["v"]
    assert isinstance(got, Unsupported) and type_name in got.type_name


def test_a_dict_that_looks_like_an_encoded_value_stays_a_dict():
    assert round_trip({"v": {"__tensor__": "t0", "__handle__": 1}})["v"] == {"__tensor__": "t0", "__handle__": 1}


# -- limits and malformed input ----------------------------------------------------------------


def test_oversized_header_is_refused_before_reading_it():
    stream = io.BytesIO(struct.pack(">IQ", MAX_HEADER + 1, 0))  # no body at all: it must not be awaited
    with pytest.raises(ProtocolError, match="where at most"):
        read_message(stream)


def test_oversized_blob_is_refused(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_BLOB", 10)
    with pytest.raises(ProtocolError, match="where at most"):
        read_message(io.BytesIO(encode_message({"t": torch.zeros(100)})))


def test_end_of_stream():
    with pytest.raises(EOFError):
        read_message(io.BytesIO(b""))
    with pytest.raises(EOFError):
        read_message(io.BytesIO(struct.pack(">IQ", 10, 0) + b'{"a":'))  # cut mid-message


@pytest.mark.parametrize("header", [
    b"this is not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
    b'{"a": {"x": 1}}', b'{"a": {"__tensor__": "t0"}}', b'{"a": {"__dict__": [1]}}', b'{"a": {"__handle__": "x"}}',
    b'{"a": {"__float__": "zz"}}', b'{"a": {"__dtype__": "nn"}}', b'{"a": {"__dtype__": "__builtins__"}}',
])
def test_malformed_headers_are_protocol_errors(header):
    with pytest.raises(ProtocolError):
        read_message(raw(header))


@pytest.mark.parametrize("blob", [b"garbage", struct.pack("<Q", 7) + b'{"a":1}', pickle.dumps(torch.ones(2))])
def test_malformed_blobs_are_protocol_errors(blob):
    with pytest.raises(ProtocolError, match="blob"):
        read_message(raw(json.dumps({"t": {"__tensor__": "t0"}}).encode(), blob))


def test_decoding_never_unpickles(monkeypatch):
    """A pickle in the blob is not loaded, and no decoding path calls pickle or torch.load."""
    def forbidden(*args, **kwargs):
        raise AssertionError("decoding must not unpickle")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    with pytest.raises(ProtocolError):
        decode_message(json.dumps({"t": {"__tensor__": "t0"}}).encode(), pickle.dumps({"x": torch.ones(1)}))
    message = encode_message({"t": torch.ones(2), "h": Handle(1), "f": math.nan})
    assert torch.equal(read_message(io.BytesIO(message))["t"], torch.ones(2))
    with pytest.raises(ProtocolError):  # a pickled object smuggled as a "type name" stays text
        read_message(raw(json.dumps({"u": {"__unsupported__": pickle.dumps(_AlwaysEqual()).hex()},
                                     "x": {"__pickle__": "..."}}).encode()))


def test_a_limit_given_as_a_function_is_asked_once_the_size_has_arrived():
    """The judge's reader waits for an answer before the request (and its limit) is sent: the limit must be the
    one in force when the answer arrives, not the one when the reader started waiting."""
    stream = io.BytesIO(encode_message({"value": torch.zeros(1000)}))
    asked_at = []

    def limit() -> int:
        asked_at.append(stream.tell())
        return 1 << 20

    assert torch.equal(read_message(stream, max_blob=limit)["value"], torch.zeros(1000))
    assert asked_at == [12]  # after the 12-byte prefix (the sizes), before the body
    with pytest.raises(ProtocolError, match="where at most"):
        read_message(io.BytesIO(encode_message({"value": torch.zeros(1000)})), max_blob=lambda: 10)
