"""Which bundles a run takes: content hashes, duplicates, unreadable paths, and
shards that are disjoint, complete, balanced and the same whatever the paths."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from challenge.cohort.selection import BundleFile, Shard, hash_bundle, list_bundles, parse_shard, take_shard
from challenge.errors import UsageError


def _files(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"b{index:02d}.challenge.zip"
        path.write_bytes(f"bundle {index}".encode())
        paths.append(path)
    return paths


def test_parse_shard_both_ways():
    assert parse_shard("2/4") == Shard(2, 4) and parse_shard(" 1 / 1 ") == Shard(1, 1)
    assert str(Shard(3, 8)) == "3/8"
    for bad in ("0/4", "5/4", "4", "a/b", "1/0", "-1/2", "1/2/3"):
        with pytest.raises(UsageError, match="I/N"):
            parse_shard(bad)


@pytest.mark.parametrize("count,shards", [(40, 4), (41, 4), (3, 5), (0, 2), (7, 1)])
def test_shards_are_disjoint_complete_and_balanced(count, shards):
    bundles = [BundleFile(path=f"p{i}", sha256=hashlib.sha256(str(i).encode()).hexdigest()) for i in range(count)]
    taken = [take_shard(bundles, Shard(i, shards)) for i in range(1, shards + 1)]
    flat = [b.sha256 for share in taken for b in share]
    assert sorted(flat) == sorted(b.sha256 for b in bundles)  # the union is the whole list
    assert len(flat) == len(set(flat))  # disjoint
    assert max(map(len, taken)) - min(map(len, taken)) <= 1  # balanced
    assert take_shard(bundles, None) == sorted(bundles, key=lambda b: b.sha256)


def test_shards_follow_content_not_paths_or_order(tmp_path):
    """Two machines that name and list the same bundles differently cut the same shards."""
    here = _files(tmp_path / "here", 9)
    there = tmp_path / "elsewhere"
    there.mkdir()
    renamed = []
    for index, path in enumerate(here):
        copy = there / f"renamed-{8 - index}.zip"
        copy.write_bytes(path.read_bytes())
        renamed.append(copy)
    random.Random(1).shuffle(renamed)
    for index in range(1, 4):
        mine = [b.sha256 for b in take_shard(list_bundles(here), Shard(index, 3))]
        theirs = [b.sha256 for b in take_shard(list_bundles(renamed), Shard(index, 3))]
        assert mine == theirs and len(mine) == 3


def test_the_same_bundle_twice_is_one_bundle(tmp_path):
    [first, second] = _files(tmp_path, 2)
    copy = tmp_path / "copy-of-first.zip"
    copy.write_bytes(first.read_bytes())
    found = list_bundles([second, copy, first, first])
    assert len(found) == 2
    assert {b.sha256 for b in found} == {hash_bundle(first), hash_bundle(second)}
    assert hash_bundle(first) == hashlib.sha256(first.read_bytes()).hexdigest()


def test_unreadable_paths_are_named_before_any_work(tmp_path):
    [good] = _files(tmp_path, 1)
    with pytest.raises(UsageError) as error:
        list_bundles([good, tmp_path / "missing.zip", tmp_path / "also-missing.zip"])
    assert "missing.zip" in error.value.message and "also-missing.zip" in error.value.message
    fifo = tmp_path / "pipe.zip"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a file or a folder"):  # reading a pipe would block forever
        list_bundles([fifo])


def test_a_folder_is_hashed_by_its_content_without_following_links(tmp_path):
    folder = tmp_path / "export"
    (folder / "workspace").mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    (folder / "workspace" / "a.py").write_text("x = 1\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: main\n")
    first = hash_bundle(folder)
    (folder / ".git" / "HEAD").write_text("ref: other\n")  # git's own folder is not part of the bundle
    assert hash_bundle(folder) == first
    secret = tmp_path / "secret.txt"
    secret.write_text("one")
    (folder / "link").symlink_to(secret)
    linked = hash_bundle(folder)
    assert linked != first
    secret.write_text("two")  # the link counts by its target's name, never by what it points to
    assert hash_bundle(folder) == linked
    (folder / "workspace" / "a.py").write_text("x = 2\n")
    assert hash_bundle(folder) != linked
