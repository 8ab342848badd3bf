"""Raw text and labels for the training tasks, from a local folder or the hub.

Two sources give the same sentences:

- a local folder in the original file formats (see :mod:`milestones.corpora`)::

      rt-polarity/rt-polarity.pos, rt-polarity.neg   one sentence per line, UTF-8
      ag_news/train.csv, test.csv                    no header: class (1-4), title, description

- the Hugging Face hub through ``datasets`` (``rotten_tomatoes``, ``ag_news``).

Where a data set comes from, in order: a folder given by the caller; else
``$CHALLENGE_DATA_DIR``, then the cache folder that ``challenge data fetch`` and
``challenge data import`` fill, then the hub. ``datasets`` is imported only on the
hub path: it is slow to import and the local path needs nothing beyond the stdlib.
Without a local copy and without the hub we raise :class:`DataUnavailable`
within about a second instead of waiting for network timeouts.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from milestones.errors import MilestonesError
from milestones.corpora import (AG_NEWS, RT_POLARITY, SOURCES, DataFileError, Source, find_local, hub_available,
                                read_ag_news_file, read_polarity_file, where_looked)

SPLITS = ("train", "validation", "test")
SPLIT_SEED = 1234  # fixed: rt-polarity has no official split, so every install must cut it the same way
VALIDATION_FRACTION = 0.1  # AG News ships train/test only; the last 10% of train validates


class DataUnavailable(MilestonesError, RuntimeError):
    """Neither a local data folder nor the Hugging Face hub could provide a data set."""


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: list[int]


@dataclass(frozen=True)
class Corpus:
    """Labelled sentences per split, as loaded, before any tokenisation."""

    name: str
    label_names: list[str]
    splits: dict[str, Split]
    source: str  # "local:<folder>" or "hub:<dataset id>", shown to the user
    fingerprint: str = field(default="")  # sha256 of every text and label

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.name.encode())
        for split_name in SPLITS:
            split = self.splits[split_name]
            digest.update(f"\n{split_name}:{len(split.texts)}\n".encode())
            for text, label in zip(split.texts, split.labels):
                digest.update(f"{label}\t{text}\n".encode())
        object.__setattr__(self, "fingerprint", digest.hexdigest())


def load_corpus(name: str, *, data_dir: Path | None) -> Corpus:
    """Load ``name`` from ``data_dir`` if given (that folder only), else from the first local
    folder that has it ($CHALLENGE_DATA_DIR, then the cache folder), else from the hub."""
    source = SOURCES[name]
    try:
        folder = Path(data_dir).expanduser() if data_dir is not None else None
        if folder is None and (place := find_local(source)) is not None:
            folder = place.folder
        if folder is not None:
            splits, origin = _load_local(source, folder), f"local:{folder.resolve()}"
        else:
            splits, origin = _load_hub(source), f"hub:{source.hub_id}"
    except DataFileError as error:
        raise DataUnavailable(unavailable_message(source, str(error))) from None
    if source is AG_NEWS:
        splits = {k: Split([clean_ag_text(t) for t in v.texts], v.labels) for k, v in splits.items()}
    return Corpus(name=name, label_names=list(source.label_names), splits=splits, source=origin)


def unavailable_message(source: Source, problem: str) -> str:
    try:
        looked = where_looked(source)
    except DataFileError as error:
        looked = f"  - {error}"
    return (f"Cannot load the {source.name} data set: {problem}.\n"
            f"Looked for {', '.join(source.local_files)} in:\n{looked}\n"
            f"  - the Hugging Face hub ('{source.hub_id}'; needs the internet once)")


# --- local files -------------------------------------------------------------


def _load_local(source: Source, folder: Path) -> dict[str, Split]:
    missing = [p for p in source.local_files if not (folder / p).is_file()]
    if missing:
        raise DataUnavailable(unavailable_message(source, f"{folder} has no {', '.join(missing)}"))
    if source is RT_POLARITY:
        pos, neg = (read_polarity_file(folder / p) for p in source.local_files)
        return split_polarity(pos, neg)
    train, test = (Split(*read_ag_news_file(folder / p)) for p in source.local_files)
    return {**cut_validation(train), "test": test}


def split_polarity(pos: list[str], neg: list[str]) -> dict[str, Split]:
    """Stratified, seeded 80/10/10 cut: 5,331 + 5,331 lines give the hub's 8,530 / 1,066 / 1,066."""
    parts: dict[str, list[tuple[str, int]]] = {name: [] for name in SPLITS}
    for label, lines in ((1, pos), (0, neg)):
        lines = list(lines)
        random.Random(SPLIT_SEED + label).shuffle(lines)
        n_train, n_val = round(0.8 * len(lines)), round(0.1 * len(lines))
        parts["train"] += [(t, label) for t in lines[:n_train]]
        parts["validation"] += [(t, label) for t in lines[n_train : n_train + n_val]]
        parts["test"] += [(t, label) for t in lines[n_train + n_val :]]
    splits = {}
    for name, rows in parts.items():
        random.Random(SPLIT_SEED).shuffle(rows)  # interleave the classes
        splits[name] = Split([t for t, _ in rows], [y for _, y in rows])
    return splits


def cut_validation(train: Split) -> dict[str, Split]:
    """The last 10% of the training rows become validation (the files are already shuffled)."""
    n_val = round(VALIDATION_FRACTION * len(train.texts))
    cut = len(train.texts) - n_val
    return {
        "train": Split(train.texts[:cut], train.labels[:cut]),
        "validation": Split(train.texts[cut:], train.labels[cut:]),
    }


# AG News turned the '&' of entities into a space: "Finland&#39;s" reads "Finland #39;s".
_BROKEN_ENTITY = re.compile(r"(?:^|[ &])#(\d+);")
_BROKEN_NAMED = re.compile(r"(?:^|[ &])(quot|amp|lt|gt);")
_TAG = re.compile(r"<[^>]{0,80}>")
_SPACES = re.compile(r"\s+")


def clean_ag_text(text: str) -> str:
    """Undo AG News's mangled HTML entities ('#39;s' -> "'s") and stray backslashes,
    so that characters and words mean what they say."""
    text = _BROKEN_NAMED.sub(r"&\1;", _BROKEN_ENTITY.sub(r"&#\1;", text))
    text = _TAG.sub(" ", html.unescape(text)).replace("\\", " ")
    return _SPACES.sub(" ", text).strip()


# --- the hub ---------------------------------------------------------------------


def _load_hub(source: Source) -> dict[str, Split]:
    """The same splits as from the original files: rt-polarity's sentences are cut by
    :func:`split_polarity`, AG News keeps its train/test split and cuts validation from train."""
    if not hub_available(source):
        raise DataUnavailable(unavailable_message(source, "no local copy, and the hub is unreachable"))
    files = download_original_rows(source)
    if source is RT_POLARITY:
        return split_polarity(*files)
    train, test = files
    return {**cut_validation(train), "test": test}


def download_original_rows(source: Source) -> tuple:
    """The hub's copy of ``source`` as the original files hold it: rt-polarity's (pos, neg) lines
    in file order, or AG News's (train, test) splits.

    The hub's rotten_tomatoes was cut from rt-polarity.pos/.neg in file order, 80/10/10 of each
    class, so joining its splits in order gives back each file's lines in their order."""
    try:
        import datasets  # slow import: only here

        loaded = datasets.load_dataset(source.hub_id)
    except Exception as error:  # datasets raises many kinds (ConnectionError, FileNotFoundError, ...)
        raise DataUnavailable(unavailable_message(source, f"`datasets` failed: {error}")) from error
    splits = {name: Split(list(loaded[name]["text"]), list(loaded[name]["label"])) for name in loaded}
    if source is RT_POLARITY:
        rows = [(t, y) for name in SPLITS for t, y in zip(splits[name].texts, splits[name].labels)]
        return [t for t, y in rows if y == 1], [t for t, y in rows if y == 0]
    return splits["train"], splits["test"]
