"""Which installed packages the sandbox mounts: the worker's runtime packages and their dependencies, nothing else.

The closure is computed from the distributions' own metadata (``importlib.metadata``: each one's ``Requires-Dist``
and its ``RECORD`` of files), from the packages the worker imports: torch (and, through it, sympy, networkx, jinja2,
fsspec, the CUDA libraries where installed...), safetensors (state dicts) and numpy (``Tensor.numpy()``). A
requirement that only an extra asks for is left out; one behind a platform marker is taken where it is installed.
Unrelated tools of the base interpreter (cloud SDKs, linters, the harness itself) are not mounted.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import sys
from pathlib import Path

WORKER_ROOTS = ("torch", "safetensors", "numpy")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _needed(requirement: str) -> str | None:
    """The distribution a ``Requires-Dist`` line names, or None where its marker rules it out here (an extra,
    another Python or platform). Without ``packaging`` only extras are ruled out: a superset, never less."""
    _, _, marker = requirement.partition(";")
    if re.search(r"\bextra\s*==", marker):
        return None
    if marker.strip():
        try:
            from packaging.markers import InvalidMarker, Marker

            try:
                if not Marker(marker.strip()).evaluate({"extra": ""}):
                    return None
            except InvalidMarker:
                pass
        except ImportError:
            pass
    match = _REQUIREMENT_NAME.match(requirement)
    return normalise(match.group(1)) if match else None


def _import_order(site_dirs: tuple[Path, ...]) -> list[Path]:
    """The folders in the order the interpreter searches them (a venv's packages shadow the base's)."""
    path = [str(Path(p).resolve()) for p in sys.path]
    return sorted(site_dirs, key=lambda p: path.index(str(p.resolve())) if str(p.resolve()) in path else len(path))


def closure(site_dirs: tuple[Path, ...], roots: tuple[str, ...] = WORKER_ROOTS) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``roots`` need, transitively (the first of a name on the path wins)."""
    index: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=[str(p) for p in _import_order(site_dirs)]):
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            index.setdefault(normalise(name), dist)
    found: dict[str, importlib.metadata.Distribution] = {}
    queue = [normalise(root) for root in roots]
    while queue:
        name = queue.pop()
        if name in found or name not in index:
            continue
        found[name] = index[name]
        queue += [needed for line in (index[name].requires or []) if (needed := _needed(line))]
    return [found[name] for name in sorted(found)]


def _top_level(dist: importlib.metadata.Distribution) -> set[Path]:
    """The site-packages entries a distribution installed (its folders, modules, .libs and its own metadata)."""
    site = Path(dist.locate_file("")).resolve()
    entries: set[Path] = set()
    for file in dist.files or ():
        parts = Path(str(file)).parts
        if parts and parts[0] not in ("..", "__pycache__"):  # scripts outside site-packages; others' bytecode
            entries.add(site / parts[0])
    if not entries:  # no RECORD: its metadata folder and the top-level names it declares
        metadata = getattr(dist, "_path", None)
        if metadata is not None:
            entries.add(Path(metadata).resolve())
        for name in (dist.read_text("top_level.txt") or "").split():
            entries.update(p for p in (site / name, site / f"{name}.py") if p.exists())
    return entries


@functools.lru_cache(maxsize=4)
def runtime_entries(site_dirs: tuple[Path, ...], roots: tuple[str, ...] = WORKER_ROOTS) -> tuple[Path, ...]:
    """Every site-packages entry of the worker's runtime packages, for mounting (paths as in ``site_dirs``)."""
    resolved = {folder.resolve(): folder for folder in site_dirs}
    entries = set()
    for dist in closure(site_dirs, roots):
        for entry in _top_level(dist):
            folder = resolved.get(entry.parent)
            if folder is not None and (folder / entry.name).exists():
                entries.add(folder / entry.name)
    return tuple(sorted(entries))
