"""How similar a learner's file is to the milestone's reference, and to other
learners' files: copydetect's token fingerprints, read as text and never run.

copydetect (the winnowing of Schleimer, Wilkerson and Aiken, "Winnowing: local
algorithms for document fingerprinting", SIGMOD 2003) lexes the code with
pygments, replaces every name by one letter (so renaming changes nothing),
drops whitespace and comments, and keeps a winnowed set of hashes of its
k-grams. Two files share the code their common hashes cover.

The stub is removed first (its fingerprints are copydetect's "boilerplate"):
every learner starts from it, so the skeleton they share with the reference is
no evidence of anything. The score of a pair is the larger of the two shares
(the part of the learner's file found in the reference, the part of the
reference found in the learner's file), so padding a copy with extra code does
not hide it.

``THRESHOLD`` was calibrated on the catalogue (``bench/similarity_calibration.py``
prints the table; the README gives it): every independently written
alternative stays below it, and a verbatim copy of the reference scores 1.0.
Some catalogue alternatives are the reference edited in one place (a flag, one
layer swapped for a built-in): they share most of its code and are flagged, as
a learner's edited copy would be.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

THRESHOLD = 0.55  # at or above: the file shares as much code with the other as an edited copy does
NOISE_K = 40  # k-gram length in the filtered token text (a name is one character: about two lines of code)
WINDOW = 6  # winnowing window: any match of NOISE_K + WINDOW - 1 = 45 filtered characters is found
MAX_SOURCE_BYTES = 512 * 1024  # larger files are not compared (no learner file comes close)


@dataclass(frozen=True)
class Similarity:
    """How much of the learner's file the reference shares (token fingerprints, blind to renaming)."""

    score: float  # 0-1
    flagged: bool  # at or above THRESHOLD: as good as a copy of the reference
    threshold: float



@dataclass(frozen=True)
class Pair:
    """Two files, named by whoever asked, and their similarity score."""

    first: str
    second: str
    score: float


@dataclass(frozen=True)
class Fingerprint:
    """What ``copydetect.compare_files`` reads of a file (the attributes of its ``CodeFingerprint``)."""

    filtered_code: str
    offsets: object  # numpy array: characters removed by the filtering, for mapping matches back
    hashes: set[int]
    hash_idx: dict[int, list[int]]
    k: int
    token_coverage: float


def _stable_kgram_hashes(numpy, text: str, k: int):
    # copydetect hashes k-grams with Python's hash(), which is salted per process: the same files would
    # score differently on every run. A keyed-nothing blake2b of each k-gram is the same everywhere.
    return numpy.array([int.from_bytes(hashlib.blake2b(text[i:i + k].encode("utf-8"), digest_size=8).digest(),
                                       "little", signed=True) for i in range(len(text) - k + 1)], dtype=numpy.int64)


def _fingerprint(source: str, boilerplate: str = "") -> Fingerprint:
    """copydetect's fingerprint of ``source`` (filtering, winnowing, coverage), with stable hashes."""
    logging.getLogger("copydetect").setLevel(logging.ERROR)
    import numpy  # copydetect and its numpy are imported only when similarity is measured
    from copydetect.utils import filter_code, get_token_coverage, winnow

    from challenge.canonical import canonical

    filtered, offsets = filter_code(canonical(source), "learner.py", language="python")
    hashes, index = winnow(_stable_kgram_hashes(numpy, filtered, NOISE_K), window_size=WINDOW,
                           remove_duplicates=False)
    if boilerplate:
        keep = ~numpy.isin(hashes, numpy.array(sorted(_cached_fingerprint(boilerplate, "").hashes), dtype=numpy.int64))
        hashes, index = hashes[keep], index[keep]
    positions: dict[int, list[int]] = {}
    for value, where in zip(hashes.tolist(), index.tolist()):
        positions.setdefault(value, []).append(where)
    return Fingerprint(filtered, offsets, set(positions), positions, NOISE_K,
                       float(get_token_coverage(positions, NOISE_K, len(filtered))))


@functools.lru_cache(maxsize=64)
def _cached_fingerprint(source: str, boilerplate: str) -> Fingerprint:
    return _fingerprint(source, boilerplate)


def similarity(first: str, second: str, *, boilerplate: str = "") -> float:
    """The larger share of code the two sources have in common (0-1), the ``boilerplate`` left out of both."""
    from copydetect import compare_files

    a, b = _cached_fingerprint(first, boilerplate), _cached_fingerprint(second, boilerplate)
    _, shares, _ = compare_files(a, b)
    return round(float(max(shares)), 4)


def read_source(path: Path) -> str | None:
    """A learner's file as text, or None when it is missing, not a plain file, too large or not UTF-8."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def reference_similarity(source: str, milestone_folder: Path) -> float | None:
    """``source`` against the reference of the milestone in ``milestone_folder`` (its stub left out)."""
    reference = read_source(milestone_folder / "reference.py")
    if reference is None:
        return None
    return similarity(source, reference, boilerplate=read_source(milestone_folder / "stub.py") or "")


def reference_similarities(*, workspace_root: Path, registry, milestone_ids: Iterable[str]):
    """``Similarity`` per started milestone whose file can be read (a workspace or an
    extracted bundle)."""

    known = {m.id: m for m in registry.milestones}
    found = {}
    for milestone_id in milestone_ids:
        milestone = known.get(milestone_id)
        if milestone is None:
            continue
        source = read_source(Path(workspace_root) / milestone.folder / milestone.learner_file)
        score = reference_similarity(source, registry.folder(milestone)) if source is not None else None
        if score is not None:
            found[milestone_id] = Similarity(score=score, flagged=score >= THRESHOLD, threshold=THRESHOLD)
    return found


def similar_pairs(sources: Mapping[str, str], *, boilerplate: str = "",
                  threshold: float = THRESHOLD) -> list[Pair]:
    """Every pair of ``sources`` (label -> code) at or above ``threshold``, most similar first."""
    pairs = [Pair(a, b, similarity(sources[a], sources[b], boilerplate=boilerplate))
             for a, b in itertools.combinations(sorted(sources), 2)]
    return sorted((p for p in pairs if p.score >= threshold), key=lambda p: (-p.score, p.first, p.second))


def describe(score: float | None, *, threshold: float = THRESHOLD) -> str:
    """A cell for tables: "23%", "97% (flagged)" or "–"."""
    if score is None:
        return "–"
    return f"{score:.0%}" + (" (flagged)" if score >= threshold else "")


def flagged(scores: Sequence[float | None], threshold: float = THRESHOLD) -> bool:
    return any(s is not None and s >= threshold for s in scores)
