"""Every mutant is a runnable file: no name it uses is undefined (a mutant that raises NameError tests nothing
but the import it lacks). Checked statically with Python's own symbol tables, per catalogue."""

from __future__ import annotations

import builtins
import symtable

import pytest

from milestones import load_registry
from milestones.mutants import mutant_source, read_catalogue

REGISTRY = load_registry()


def _undefined(source: str) -> set[str]:
    """Global names read anywhere in ``source`` that are neither assigned at module level, imported nor builtins."""
    top = symtable.symtable(source, "mutant.py", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()} | set(dir(builtins))
    used: set[str] = set()

    def walk(table) -> None:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (symbol.is_global() or table is top) and not symbol.is_assigned():
                used.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    walk(top)
    return used - defined - {"__name__", "__file__", "__doc__"}


@pytest.mark.parametrize("milestone", [m for m in REGISTRY.milestones
                                       if (REGISTRY.folder(m) / "mutants.yaml").is_file()], ids=lambda m: m.id)
def test_every_mutant_uses_only_names_it_defines_or_imports(milestone):
    folder = REGISTRY.folder(milestone)
    assert _undefined((folder / "reference.py").read_text(encoding="utf-8")) == set()  # the check itself works
    for mutant in read_catalogue(folder).mutants:
        assert _undefined(mutant_source(folder, mutant.name)) == set(), mutant.name
