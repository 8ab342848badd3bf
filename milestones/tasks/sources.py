"""Raw text and labels for the training tasks, from a local folder or the hub.

Two sources give the same sentences:

- a local folder in the original file formats (``CHALLENGE_DATA_DIR``)::

      rt-polarity/rt-polarity.pos, rt-polarity.neg   one sentence per line, UTF-8
      ag_news/train.csv, test.csv                    no header: class (1-4), title, description

- the Hugging Face hub through ``datasets`` (``rotten_tomatoes``, ``ag_news``).

The local folder wins when given. ``datasets`` is imported only on the hub path:
it is slow to import and the local path needs nothing beyond the stdlib.
Without a local folder and without the hub we raise :class:`DataUnavailable`
within about a second instead of waiting for network timeouts.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import random
import re
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "validation", "test")
DATA_DIR_ENV = "CHALLENGE_DATA_DIR"
SPLIT_SEED = 1234  # fixed: rt-polarity has no official split, so every install must cut it the same way
VALIDATION_FRACTION = 0.1  # AG News ships train/test only; the last 10% of train validates
HUB_PROBE_TIMEOUT_S = 1.2  # the hub answers a HEAD in ~0.3 s; offline, nobody should wait longer


class DataUnavailable(RuntimeError):
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


@dataclass(frozen=True)
class Source:
    name: str  # "rt_polarity" or "ag_news"
    hub_id: str  # dataset id on the Hugging Face hub
    local_files: tuple[str, ...]  # paths under the data folder
    label_names: tuple[str, ...]


RT_POLARITY = Source(
    name="rt_polarity",
    hub_id="cornell-movie-review-data/rotten_tomatoes",
    local_files=("rt-polarity/rt-polarity.pos", "rt-polarity/rt-polarity.neg"),
    label_names=("negative", "positive"),  # the hub's order: 0 = neg, 1 = pos
)
AG_NEWS = Source(
    name="ag_news",
    hub_id="fancyzhx/ag_news",
    local_files=("ag_news/train.csv", "ag_news/test.csv"),
    label_names=("World", "Sports", "Business", "Sci/Tech"),
)
SOURCES = {source.name: source for source in (RT_POLARITY, AG_NEWS)}


def load_corpus(name: str, *, data_dir: Path | None) -> Corpus:
    """Load ``name`` from ``data_dir`` (or ``$CHALLENGE_DATA_DIR``), else from the hub."""
    source = SOURCES[name]
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = Path(os.environ[DATA_DIR_ENV])
    if data_dir is not None:
        splits = _load_local(source, Path(data_dir).expanduser())
        origin = f"local:{Path(data_dir).expanduser().resolve()}"
    else:
        splits = _load_hub(source)
        origin = f"hub:{source.hub_id}"
    if source is AG_NEWS:
        splits = {k: Split([clean_ag_text(t) for t in v.texts], v.labels) for k, v in splits.items()}
    return Corpus(name=name, label_names=list(source.label_names), splits=splits, source=origin)


def unavailable_message(source: Source, problem: str) -> str:
    return (
        f"Cannot load the {source.name} data: {problem}.\n"
        f"Either set {DATA_DIR_ENV} to a folder with rt-polarity/ and ag_news/ in the original formats "
        f"(needs {', '.join(source.local_files)}), or connect to the internet so `datasets` can "
        f"download '{source.hub_id}' once (it is cached afterwards)."
    )


# --- local files -------------------------------------------------------------


def _load_local(source: Source, folder: Path) -> dict[str, Split]:
    missing = [p for p in source.local_files if not (folder / p).is_file()]
    if missing:
        raise DataUnavailable(unavailable_message(source, f"{folder} has no {', '.join(missing)}"))
    if source is RT_POLARITY:
        pos, neg = (_read_lines(folder / p) for p in source.local_files)
        return split_polarity(pos, neg)
    train, test = (_read_ag_csv(folder / p) for p in source.local_files)
    return {**cut_validation(train), "test": test}


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


def _read_ag_csv(path: Path) -> Split:
    texts, labels = [], []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.reader(f):
            if not row:
                continue
            label, title, description = row
            texts.append(f"{title} {description}")  # the hub joins title and description the same way
            labels.append(int(label) - 1)  # 1..4 in the file, 0..3 on the hub
    return Split(texts, labels)


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
    if _offline_requested() or not _hub_reachable(source):
        _tell_hf_we_are_offline()
        if not _maybe_cached(source):
            raise DataUnavailable(unavailable_message(source, "no local folder was given and the hub is unreachable"))
    try:
        import datasets  # slow import: only here

        loaded = datasets.load_dataset(source.hub_id)
    except Exception as error:  # datasets raises many kinds (ConnectionError, FileNotFoundError, ...)
        raise DataUnavailable(unavailable_message(source, f"`datasets` failed: {error}")) from error
    splits = {name: Split(list(loaded[name]["text"]), list(loaded[name]["label"])) for name in loaded}
    if "validation" not in splits:
        splits.update(cut_validation(splits["train"]))
    return {name: splits[name] for name in SPLITS}


def _offline_requested() -> bool:
    flags = (os.environ.get(name, "").lower() for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(flag in ("1", "true", "yes", "on") for flag in flags)


def _hub_reachable(source: Source, timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Ask the hub about the data set over HTTPS. Any HTTP answer (even 401 or 404)
    means it is reachable; a TCP connect alone proves little behind firewalls that
    accept everything. DNS lookups have no timeout of their own, so the probe runs
    in a daemon thread that we stop waiting for."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/datasets/{source.hub_id}", method="HEAD")
    answered = threading.Event()

    def probe() -> None:
        try:
            urllib.request.urlopen(request, timeout=timeout_s).close()
            answered.set()
        except urllib.error.HTTPError:  # the hub answered, if only to refuse
            answered.set()
        except Exception:  # URLError, TLS errors, timeouts: not reachable
            pass

    threading.Thread(target=probe, daemon=True).start()
    return answered.wait(timeout_s)


def _tell_hf_we_are_offline() -> None:
    """Stop `datasets` from spending ~10 s per request on timeouts. The libraries read
    these variables at import time; patch their constants too if already imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE")):
        if module in sys.modules:
            setattr(sys.modules[module], attr, True)


def _maybe_cached(source: Source) -> bool:
    """Whether the hub or datasets cache holds anything named after the data set.
    A cheap look before paying for ``import datasets``; a miss is certain, a hit is a maybe."""
    hf_home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface")
    folders = [
        Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or hf_home / "hub"),
        Path(os.environ.get("HF_DATASETS_CACHE") or hf_home / "datasets"),
    ]
    short = source.hub_id.split("/")[-1]
    for folder in folders:
        folder = folder.expanduser()
        if folder.is_dir() and any(short in entry.name for entry in folder.iterdir()):
            return True
    return False
