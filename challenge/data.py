"""Plain functions behind `challenge data`: fetch the training data sets once into the
cache folder, import a local copy in the original formats, and say what is where.

The cache folder holds the same layout as a ``CHALLENGE_DATA_DIR`` folder (see
``milestones.corpora``), so one loader reads both. A data set is installed whole or not
at all: its files are written to a staging folder beside the cache entry and swapped in.
``data_status`` imports no torch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from challenge.errors import IMPORT_COMMAND, ChallengeError, UsageError
from challenge.record.storage import fsync_dir, write_atomic
from challenge.taskdata import task_name
from milestones import Milestone, Registry
from milestones.corpora import (DATA_DIR_ENV, RT_POLARITY, SOURCES, TASK_CORPUS, DataFileError, FolderCheck, Place,
                                Source, ag_news_csv, cache_folder, check_source_folder, find_local, has_files,
                                hub_available, polarity_text, search_places)

LAYOUT = ("rt-polarity/rt-polarity.pos, rt-polarity/rt-polarity.neg (one sentence per line) and "
          "ag_news/train.csv, ag_news/test.csv (no header: class 1-4, title, description)")


@dataclass(frozen=True)
class Installed:
    """One data set in the cache folder after fetch or import."""

    name: str
    folder: Path
    rows: dict[str, int]
    action: str  # "downloaded", "imported" or "already there"


def corpus_of(milestone: Milestone) -> str | None:
    """The corpus a milestone trains on or grades with; None for none or computed data."""
    task = task_name(milestone)
    return TASK_CORPUS.get(task) if task else None


def milestones_using(registry: Registry) -> dict[str, list[str]]:
    """Corpus name -> ids of the milestones that need it, in milestone order."""
    using: dict[str, list[str]] = {name: [] for name in SOURCES}
    for milestone in registry.milestones:
        if (name := corpus_of(milestone)) is not None:
            using[name].append(milestone.id)
    return using


# --- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusStatus:
    name: str
    milestones: list[str]
    checks: list[tuple[Place, FolderCheck | None]]  # every local place; None: nothing of it there
    used: Place | None  # where the loaders take it from (they fail if its files do not load); None: the hub

    def to_dict(self) -> dict:
        return {"name": self.name, "milestones": self.milestones,
                "used": str(self.used.folder) if self.used else None,
                "places": [{"place": place.label, "folder": str(place.folder),
                            "rows": check.rows if check else {}, "problem": check.problem if check else "absent"}
                           for place, check in self.checks]}


@dataclass(frozen=True)
class DataStatus:
    cache: Path
    data_dir: str | None  # $CHALLENGE_DATA_DIR as set, or None
    corpora: list[CorpusStatus]
    computed: list[str] = field(default_factory=list)  # milestones whose data is computed, nothing to fetch
    problem: str | None = None  # e.g. CHALLENGE_DATA_DIR is not a folder

    def to_dict(self) -> dict:
        return {"cache_folder": str(self.cache), "data_dir": self.data_dir, "problem": self.problem,
                "corpora": [c.to_dict() for c in self.corpora], "computed": self.computed}


def data_status(*, registry: Registry) -> DataStatus:
    """Every data set: which local folders hold it (each read as the loaders would), which one is used."""
    problem = None
    try:
        places = search_places()
    except DataFileError as error:
        problem, places = str(error), [Place("cache folder", cache_folder())]
    using = milestones_using(registry)
    corpora = []
    for name, source in SOURCES.items():
        checks = []
        for place in places:
            folder = place.folder / source.folder
            checks.append((place, check_source_folder(source, folder) if folder.is_dir() else None))
        used = next((place for place in places if has_files(source, place.folder)), None)  # as the loaders choose
        corpora.append(CorpusStatus(name, using[name], checks, used))
    computed = [m.id for m in registry.milestones if task_name(m) and corpus_of(m) is None]
    return DataStatus(cache_folder(), os.environ.get(DATA_DIR_ENV) or None, corpora, computed, problem)


# --- which milestones lack data -------------------------------------------------------------------


@dataclass(frozen=True)
class MissingData:
    corpus: str
    milestones: list[str]


def missing_data(*, registry: Registry, milestones: list[Milestone]) -> list[MissingData]:
    """The corpora that ``milestones`` need and that no local folder holds and the hub cannot give.
    Probes the hub (about a second at most, offline)."""
    needed: dict[str, list[str]] = {}
    for milestone in milestones:
        if (name := corpus_of(milestone)) is not None:
            needed.setdefault(name, []).append(milestone.id)
    missing = []
    for name, ids in needed.items():
        try:
            local = find_local(SOURCES[name])
        except DataFileError:
            local = None
        if local is None and not hub_available(SOURCES[name]):
            missing.append(MissingData(name, ids))
    return missing


def describe_missing(missing: list[MissingData]) -> str:
    """'classifier (rt_polarity data), bert and gpt (ag_news data)'."""
    return ", ".join(f"{' and '.join(m.milestones)} ({m.corpus} data)" for m in missing)


# --- fetch ----------------------------------------------------------------------------------------


def fetch_data(*, names: list[str], force: bool = False,
               say: Callable[[str], None] = lambda _: None) -> list[Installed]:
    """Download ``names`` from the Hugging Face hub into the cache folder, in the original formats."""
    sources = _chosen(names)

    installed = []
    for source in sources:
        target = cache_folder() / source.folder
        present = check_source_folder(source, target) if target.is_dir() else None
        if present is not None and present.ok and not force:
            installed.append(Installed(source.name, target, present.rows, "already there"))
            continue
        if not hub_available(source):
            raise ChallengeError(
                f"Cannot download {source.name}: the Hugging Face hub is not reachable from here.",
                f"Offline, `{IMPORT_COMMAND}` takes a local copy in the original formats (see "
                f"`challenge data import --help`), or set {DATA_DIR_ENV} to such a folder.")
        say(f"Downloading {source.name} ('{source.hub_id}') ...")
        from milestones.tasks.sources import DataUnavailable, download_original_rows  # imports torch: only here

        try:
            rows = download_original_rows(source)
        except DataUnavailable as error:
            raise ChallengeError(f"Downloading {source.name} failed.\n{error}",
                                 f"Try again, or offline: {IMPORT_COMMAND}") from None
        if source is RT_POLARITY:
            files = {name: polarity_text(lines).encode("utf-8") for name, lines in zip(source.files, rows)}
        else:
            files = {name: ag_news_csv(split.texts, split.labels).encode("utf-8")
                     for name, split in zip(source.files, rows)}
        installed.append(_install(source, files, action="downloaded"))
    return installed


# --- import ---------------------------------------------------------------------------------------


def import_data(*, source_dir: Path) -> list[Installed]:
    """Validate the data sets found in ``source_dir`` and copy them into the cache folder.
    Everything found is read first; one invalid file stops the import before anything is copied."""
    root = Path(source_dir).expanduser()
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder.", f"Give the folder that holds {LAYOUT}.")
    found = {source.name: folder for source in SOURCES.values() if (folder := _find_in(source, root)) is not None}
    if not found:
        raise UsageError(f"{root} holds neither data set.", f"Expected {LAYOUT}.")
    checks = [check_source_folder(SOURCES[name], folder) for name, folder in found.items()]
    bad = [check for check in checks if not check.ok]
    if bad:
        raise ChallengeError("Nothing was imported: " + "; ".join(f"{c.source.name}: {c.problem}" for c in bad) + ".",
                             f"The original formats are {LAYOUT}.")
    installed = []
    for check in checks:
        if (cache_folder() / check.source.folder).resolve() == check.folder.resolve():
            installed.append(Installed(check.source.name, check.folder, check.rows, "already there"))
            continue
        installed.append(_install(check.source, {name: check.folder / name for name in check.source.files},
                                  action="imported"))
    return installed


def _find_in(source: Source, root: Path) -> Path | None:
    """``source``'s folder under ``root`` (its usual name or the name its download unpacks to),
    or ``root`` itself when it is that folder."""
    for name in (source.folder, *source.download_folders):
        if (root / name).is_dir():
            return root / name
    if any((root / name).is_file() for name in source.files):
        return root
    return None


def _chosen(names: list[str]) -> list[Source]:
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise UsageError(f"No data set called {', '.join(repr(n) for n in unknown)}.",
                         f"Known: {', '.join(SOURCES)} (default: all).")
    return [SOURCES[name] for name in names] if names else list(SOURCES.values())


# --- installing into the cache --------------------------------------------------------------------


def _install(source: Source, files: dict[str, bytes | Path], *, action: str) -> Installed:
    """Write ``files`` (contents, or paths to copy) as ``source``'s folder in the cache, whole or not at all."""
    cache = cache_folder()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / source.folder
    with FileLock(str(cache / ".lock"), timeout=600):
        staging = Path(tempfile.mkdtemp(prefix=f".incoming-{source.folder}-", dir=cache))
        staging.chmod(0o755)  # mkdtemp makes 0700; the data are public text, readable like any cache
        try:
            for name, content in files.items():
                write_atomic(staging / name, content if isinstance(content, bytes) else Path(content).read_bytes())
            check = check_source_folder(source, staging)
            if not check.ok:  # what we wrote must load, or it does not go in
                raise ChallengeError(f"The {source.name} files did not validate: {check.problem}.")
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".old-{source.folder}-", dir=cache))
                target.rename(old / source.folder)
            staging.rename(target)
            fsync_dir(cache)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return Installed(source.name, target, check.rows, action)

