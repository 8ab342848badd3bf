"""The training corpora as files, in their original formats, and where they are found.

A data folder holds either or both of::

    rt-polarity/rt-polarity.pos, rt-polarity.neg   one sentence per line, UTF-8 (Pang & Lee, v1.0)
    ag_news/train.csv, test.csv                    no header, every field quoted: class (1-4), title, description

The loaders (``milestones.tasks.sources``) look for a data set, in this order, in

1. ``$CHALLENGE_DATA_DIR``, a folder you keep yourself;
2. the cache folder that ``challenge data fetch`` and ``challenge data import`` fill:
   ``$CHALLENGE_DATA_CACHE``, else ``$XDG_CACHE_HOME/challenge/data``, else ``~/.cache/challenge/data``;
3. the Hugging Face hub.

This module imports nothing beyond the standard library (no torch), so that
``challenge data status`` stays instant.
"""

from __future__ import annotations

import csv
import os
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from milestones.errors import MilestonesError

DATA_DIR_ENV = "CHALLENGE_DATA_DIR"
CACHE_DIR_ENV = "CHALLENGE_DATA_CACHE"
HUB_PROBE_TIMEOUT_S = 1.2  # the hub answers a HEAD in ~0.3 s; offline, nobody should wait longer


@dataclass(frozen=True)
class Source:
    name: str  # "rt_polarity" or "ag_news"
    hub_id: str  # dataset id on the Hugging Face hub
    folder: str  # its folder in a data folder
    files: tuple[str, ...]  # file names in that folder
    label_names: tuple[str, ...]
    download_folders: tuple[str, ...] = ()  # other names the original downloads unpack to, accepted by import

    @property
    def local_files(self) -> tuple[str, ...]:
        return tuple(f"{self.folder}/{name}" for name in self.files)


RT_POLARITY = Source(
    name="rt_polarity",
    hub_id="cornell-movie-review-data/rotten_tomatoes",
    folder="rt-polarity",
    files=("rt-polarity.pos", "rt-polarity.neg"),
    label_names=("negative", "positive"),  # the hub's order: 0 = neg, 1 = pos
    download_folders=("rt-polaritydata",),  # rt-polaritydata.tar.gz from Cornell
)
AG_NEWS = Source(
    name="ag_news",
    hub_id="fancyzhx/ag_news",
    folder="ag_news",
    files=("train.csv", "test.csv"),
    label_names=("World", "Sports", "Business", "Sci/Tech"),
    download_folders=("ag_news_csv",),  # ag_news_csv.tar.gz from the authors
)
SOURCES = {source.name: source for source in (RT_POLARITY, AG_NEWS)}

# Which corpus each harness task reads (None: computed, nothing to download). The same as
# ``milestones.tasks.TASKS[name].corpus``, repeated here so that no torch is needed to
# say which milestones a data set serves; a test keeps the two equal.
TASK_CORPUS: dict[str, str | None] = {
    "rt_polarity": "rt_polarity",
    "ag_news_mlm": "ag_news",
    "ag_news_lm": "ag_news",
    "modular_addition_59": None,
    "modular_addition_113": None,
    "reversal": None,
}


class DataFileError(MilestonesError, ValueError):
    """A data folder or file cannot be used as given; the message names it (and the line)."""


# --- where ---------------------------------------------------------------------------------------


def cache_folder() -> Path:
    """The folder ``challenge data fetch`` and ``challenge data import`` write to."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "challenge" / "data"


def user_data_dir() -> Path | None:
    """``$CHALLENGE_DATA_DIR`` if set; a value that is not a folder is an error, never silently skipped."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DataFileError(f"{DATA_DIR_ENV} is set to {value}, which is not a folder "
                              f"(unset it to use the cache folder {cache_folder()})")
    return folder


@dataclass(frozen=True)
class Place:
    label: str  # "CHALLENGE_DATA_DIR" or "cache folder"
    folder: Path


def search_places() -> list[Place]:
    """The local folders the loaders search, in order."""
    places = [Place(DATA_DIR_ENV, folder)] if (folder := user_data_dir()) else []
    return places + [Place("cache folder", cache_folder())]


def has_files(source: Source, folder: Path) -> bool:
    return all((folder / path).is_file() for path in source.local_files)


def find_local(source: Source) -> Place | None:
    """The first local folder holding every file of ``source``, or None."""
    return next((place for place in search_places() if has_files(source, place.folder)), None)


def where_looked(source: Source) -> str:
    """One line per local place and what it lacks, for error messages."""
    lines = [] if os.environ.get(DATA_DIR_ENV) else [f"{DATA_DIR_ENV}: not set"]
    for place in search_places():
        missing = [p for p in source.local_files if not (place.folder / p).is_file()]
        lines.append(f"{place.label} {place.folder}: " + (f"no {', '.join(missing)}" if missing else "complete"))
    return "\n".join(f"  - {line}" for line in lines)


# --- the hub ----------------------------------------------------------------------------------------


def hub_available(source: Source) -> bool:
    """Whether ``datasets`` may get ``source``: the hub answers, or (offline) its cache may hold it."""
    if not _offline_requested() and _hub_reachable(source):
        return True
    _tell_hf_we_are_offline()
    return _maybe_cached(source)


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


# --- reading -------------------------------------------------------------------------------------


def read_polarity_file(path: Path) -> list[str]:
    """The non-empty lines of an rt-polarity file. Cornell's own copy is not all UTF-8: bad bytes become U+FFFD."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise DataFileError(f"{path} is empty (one sentence per line expected)")
    if any("\0" in line for line in lines[:100]):
        raise DataFileError(f"{path} is not a text file (one sentence per line expected)")
    return lines


def read_ag_news_file(path: Path) -> tuple[list[str], list[int]]:
    """Texts ("title description") and labels (0-3) of an AG News CSV file."""
    texts, labels = [], []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, strict=True)  # a stray quote is an error, not a row swallowing the rest
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != 3:
                    raise DataFileError(f"{path}, line {reader.line_num}: {len(row)} fields, expected 3 "
                                          "(class, title, description)")
                label, title, description = row
                if label.strip() not in ("1", "2", "3", "4"):
                    header = " (the original format has no header row)" if reader.line_num == 1 else ""
                    raise DataFileError(f"{path}, line {reader.line_num}: class {label[:20]!r} is not 1-4{header}")
                texts.append(f"{title} {description}")  # the hub joins title and description the same way
                labels.append(int(label) - 1)  # 1..4 in the file, 0..3 on the hub
        except csv.Error as error:
            raise DataFileError(f"{path}, line {reader.line_num}: not CSV ({error})") from None
    if not texts:
        raise DataFileError(f"{path} has no rows")
    return texts, labels


@dataclass(frozen=True)
class FolderCheck:
    """What a data folder holds of one source: rows per file, or the problem that stops it loading."""

    source: Source
    folder: Path  # the source's own folder, e.g. .../rt-polarity
    rows: dict[str, int]
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_source_folder(source: Source, folder: Path) -> FolderCheck:
    """Read every file of ``source`` in ``folder`` (its own folder) as the loaders would."""
    missing = [name for name in source.files if not (folder / name).is_file()]
    if missing:
        return FolderCheck(source, folder, {}, f"no {', '.join(missing)} in {folder}")
    rows = {}
    try:
        for name in source.files:
            if source is RT_POLARITY:
                rows[name] = len(read_polarity_file(folder / name))
            else:
                rows[name] = len(read_ag_news_file(folder / name)[0])
    except (DataFileError, OSError) as error:
        return FolderCheck(source, folder, rows, str(error))
    return FolderCheck(source, folder, rows)


# --- writing (the hub's rows in the original formats) --------------------------------------------


def polarity_text(lines: list[str]) -> str:
    return "".join(line.replace("\n", " ").strip() + "\n" for line in lines)


def ag_news_csv(texts: list[str], labels: list[int]) -> str:
    """Original AG News layout from the hub's rows (labels 0-3). The hub keeps title and description
    joined in one text, so the whole text goes in the title column and the description stays empty."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for text, label in zip(texts, labels):
        writer.writerow([label + 1, text, ""])
    return buffer.getvalue()
