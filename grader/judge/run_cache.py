"""The scratch space the hidden tests of one run share, under typed keys.

Like pytest's ``StashKey``: a module that caches something (scores computed
once, the diagnosis's findings, the models of a worker) declares its own key,
``SCORES: StashKey[dict[str, Tensor]] = StashKey("scores")``, and only code that
holds that object can reach the value. Two modules that pick the same name
cannot overwrite each other, and a type checker knows what each key holds.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class StashKey(Generic[T]):
    """A key of ``RunCache``; its identity is the key (``name`` only shows in messages)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class RunCache:
    """Values shared by the tests of one run, each under its ``StashKey``."""

    def __init__(self) -> None:
        self._values: dict[StashKey[Any], Any] = {}

    @staticmethod
    def _checked(key: object) -> StashKey[Any]:
        if not isinstance(key, StashKey):
            raise TypeError(f"run_cache keys are StashKey objects, not {type(key).__name__} ({key!r})")
        return key

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast(T, self._values[self._checked(key)])

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._values[self._checked(key)] = value

    def __contains__(self, key: object) -> bool:
        return self._checked(key) in self._values

    def setdefault(self, key: StashKey[T], default: T) -> T:
        return cast(T, self._values.setdefault(self._checked(key), default))
