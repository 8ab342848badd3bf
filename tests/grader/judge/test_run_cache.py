"""The hidden tests' shared cache takes typed keys only: two modules that pick the same name cannot collide."""

import pytest

from grader.judge.run_cache import RunCache, StashKey


def test_keys_of_the_same_name_are_different_keys():
    cache = RunCache()
    first, second = StashKey[dict]("scores"), StashKey[dict]("scores")
    cache.setdefault(first, {})["trained"] = 1
    assert first in cache and second not in cache
    assert cache.setdefault(second, {}) == {} and cache[first] == {"trained": 1}


def test_a_string_key_is_refused():
    with pytest.raises(TypeError, match="StashKey"):
        RunCache().setdefault("scores", {})  # type: ignore[arg-type]
