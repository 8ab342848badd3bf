"""The messages between judge and worker, typed and checked on both ends.

``grader.protocol`` is the wire format (JSON header and a safetensors blob);
this module says what a message holds. The worker checks every request with
``Request.from_wire`` before it runs an operation, and the judge checks every
reply with ``reply_from_wire`` before it believes one: a field of the wrong
type is a ``ProtocolError`` at the border, never a ``KeyError`` or a silent
``float()`` deep inside. Torch-free, so the judge can import it before torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from grader.errors import GraderError

Op = Literal["load", "call", "reference_module", "to", "train_mode", "parameters", "state_dict", "load_state_dict",
             "train", "seed", "release", "exit"]
OPS: frozenset[str] = frozenset(get_args(Op))
FailureKind = Literal["exception", "missing", "protocol"]
FAILURE_KINDS: frozenset[str] = frozenset(get_args(FailureKind))
StopReason = Literal["finished", "budget", "stopped", "interrupted"]
STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))


class ProtocolError(GraderError):
    """The other side sent something that is not a valid message."""


class Missing(GraderError, LookupError):
    """The learner's file lacks a name the judge asked for (a function, a class, a method)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _number(raw: dict[str, Any], key: str, default: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{key!r} is not a number: {type(value).__name__}")
    return float(value)


def _integer(raw: dict[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{key!r} is not an integer: {type(value).__name__}")
    return value


def _text(raw: dict[str, Any], key: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"{key!r} is not text: {type(value).__name__}")
    return value


def _mapping(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"{key!r} is not a mapping: {type(value).__name__}")
    return value


# -- judge -> worker -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One operation for the worker; ``payload`` holds its arguments (checked by the operation's own type)."""

    op: Op
    seq: int
    payload: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"op": self.op, "seq": self.seq, **self.payload}

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> "Request":
        op = raw.get("op")
        if op not in OPS:
            raise ProtocolError(f"unknown op {op!r}")
        seq = raw.get("seq", 0)
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise ProtocolError(f"'seq' is not an integer: {type(seq).__name__}")
        return cls(op=op, seq=seq, payload={k: v for k, v in raw.items() if k not in ("op", "seq")})


@dataclass(frozen=True)
class TrainOrder:
    """The payload of a ``train`` request: the data, the spec and the budget, decided by the judge."""

    tensors: dict[str, Any]
    spec: dict[str, Any]
    budget_s: float  # CPU seconds of the worker
    seed: int = 0
    device: str = "cpu"
    grace_s: float = 20.0

    def to_payload(self) -> dict[str, Any]:
        return {"tensors": self.tensors, "spec": self.spec, "budget_s": self.budget_s, "seed": self.seed,
                "device": self.device, "grace_s": self.grace_s}

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> "TrainOrder":
        return cls(tensors=_mapping(raw, "tensors"), spec=_mapping(raw, "spec"), budget_s=_number(raw, "budget_s"),
                   seed=_integer(raw, "seed", 0), device=_text(raw, "device", "cpu"),
                   grace_s=_number(raw, "grace_s", 20.0))


# -- worker -> judge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """Why an operation failed: the learner's exception, a missing name, or a request the worker refused."""

    kind: FailureKind
    message: str
    type: str = ""  # the exception's class name
    traceback: str = ""  # the learner's frames only
    site: dict[str, Any] | None = None  # where it left the learner's code, in shapes (a claim: grader.judge.crash_site)

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "type": self.type, "traceback": self.traceback,
                "site": self.site}

    @classmethod
    def from_wire(cls, raw: object) -> "Failure":
        if not isinstance(raw, dict):
            raise ProtocolError("a failed reply without an error")
        kind = raw.get("kind")
        if kind not in FAILURE_KINDS:
            raise ProtocolError(f"unknown failure kind {kind!r}")
        site = raw.get("site")
        return cls(kind=kind, message=_text(raw, "message", ""), type=_text(raw, "type", ""),
                   traceback=_text(raw, "traceback", ""), site=site if isinstance(site, dict) else None)


@dataclass(frozen=True)
class Response:
    """The answer to one request: a value, or a failure; the built-ins the call used (the worker's claim)."""

    ok: bool
    value: Any = None
    error: Failure | None = None
    builtins: tuple[str, ...] = ()
    duration_s: float = 0.0
    seq: int | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"ok": self.ok, "builtins": list(self.builtins), "duration_s": self.duration_s,
                                "seq": self.seq}
        if self.ok:
            wire["value"] = self.value
        else:
            wire["error"] = (self.error or Failure("protocol", "no error given")).to_wire()
        return wire

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> "Response":
        ok = raw.get("ok")
        if not isinstance(ok, bool):
            raise ProtocolError("a reply without 'ok'")
        builtins = raw.get("builtins", [])
        if not isinstance(builtins, list) or not all(isinstance(name, str) for name in builtins):
            raise ProtocolError("'builtins' is not a list of names")
        seq = raw.get("seq")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
            raise ProtocolError(f"'seq' is not an integer: {type(seq).__name__}")
        return cls(ok=ok, value=raw.get("value") if ok else None, error=None if ok else Failure.from_wire(
            raw.get("error")), builtins=tuple(builtins), duration_s=_number(raw, "duration_s", 0.0), seq=seq)


@dataclass(frozen=True)
class Progress:
    """A training loop's ``task.log`` record, sent while the loop runs (not an answer)."""

    info: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"progress": self.info}


def reply_from_wire(raw: dict[str, Any]) -> Response | Progress:
    if "progress" in raw:
        return Progress(_mapping(raw, "progress"))
    return Response.from_wire(raw)


@dataclass(frozen=True)
class Trained:
    """The value of a successful ``train`` reply: the model as it stopped, and how it got there."""

    state: dict[str, Any]  # name -> tensor
    history: list[dict[str, Any]]  # the learner's task.log records (a claim)
    outcome: StopReason
    cpu_s: float
    elapsed_s: float
    threads: int
    tokens_seen: int

    def to_wire(self) -> dict[str, Any]:
        return {"state": self.state, "history": self.history, "outcome": self.outcome, "cpu_s": self.cpu_s,
                "elapsed_s": self.elapsed_s, "threads": self.threads, "tokens_seen": self.tokens_seen}

    @classmethod
    def from_wire(cls, raw: object) -> "Trained":
        if not isinstance(raw, dict):
            raise ProtocolError("a training reply that is not a mapping")
        history = raw.get("history")
        if not isinstance(history, list):
            raise ProtocolError("'history' is not a list")
        outcome = raw.get("outcome")
        if outcome not in STOP_REASONS:
            raise ProtocolError(f"unknown training outcome {outcome!r}")
        return cls(state=_mapping(raw, "state"), history=[r for r in history if isinstance(r, dict)],
                   outcome=outcome, cpu_s=_number(raw, "cpu_s"), elapsed_s=_number(raw, "elapsed_s"),
                   threads=_integer(raw, "threads"), tokens_seen=_integer(raw, "tokens_seen"))
