"""`challenge dev new ID --kind module|training`: a new milestone's files, ready to fill in.

It writes ``milestones/NN_id/`` (the next free number) with ``milestone.yaml``,
``README.md``, ``stub.py`` (carrying ``TODO(id)``), ``reference.py``, an empty
``mutants.yaml`` and an ``alternatives/`` folder (kept in git by a ``.gitkeep``),
plus a hidden test ``grader/hidden/NN_id/test_id.py``, from the templates in
``templates/<kind>/``, and adds the milestone's row to the repository README's
table. What it writes is a working draft: the registry loads it and
``challenge dev check ID`` runs it (the stub fails, the reference passes; the
catalogue is below its minimums, a warning while ``draft: true``, which is the
author's next job).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

from challenge.errors import UsageError
from milestones.registry import read_yaml_model
from milestones.schema import Milestone

TEMPLATES = Path(__file__).resolve().parent / "templates"
SCAFFOLD_KINDS = ("module", "training")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_FOLDER = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)$")


@dataclass(frozen=True)
class Scaffold:
    """What ``new_milestone`` wrote."""

    milestone_dir: Path
    hidden_test: Path
    files: list[Path]
    readme: Path | None = None  # the README whose milestone table got the new row (None: no table found)


def next_number(milestones_root: Path) -> int:
    numbers = [int(m.group(1)) for p in milestones_root.iterdir() if p.is_dir() and (m := _FOLDER.match(p.name))]
    return max(numbers, default=0) + 1


def new_milestone(*, milestone_id: str, kind: str, milestones_root: Path, hidden_root: Path,
                  title: str | None = None) -> Scaffold:
    """Write a new milestone ``milestone_id`` of ``kind`` under ``milestones_root`` and its hidden test
    under ``hidden_root``; nothing is written when anything is in the way."""
    if not _ID.match(milestone_id):
        raise UsageError(f"'{milestone_id}' is not a milestone id.",
                         "Use lower-case letters, digits and underscores, starting with a letter: e.g. rope.")
    if kind not in SCAFFOLD_KINDS:
        raise UsageError(f"--kind must be one of {', '.join(SCAFFOLD_KINDS)}, not '{kind}'.",
                         "module: graded by calling your code; training: graded on a trained checkpoint.")
    taken = [p.name for p in milestones_root.iterdir() if (m := _FOLDER.match(p.name)) and m.group(2) == milestone_id]
    if taken:
        raise UsageError(f"A milestone '{milestone_id}' exists already: {milestones_root / taken[0]}.",
                         "Pick another id.")
    number = next_number(milestones_root)
    if number > 99:
        raise UsageError("There are already 99 milestones.", "Milestone folders are numbered with two digits.")
    title = title or f"TODO({milestone_id}): a title"
    if "\n" in title or '"' in title or "\\" in title:
        raise UsageError("--title must be one line without quotes or backslashes.",
                         'Example: --title "Rotary embeddings"')
    folder = f"{number:02d}_{milestone_id}"
    target, hidden_dir = milestones_root / folder, hidden_root / folder
    for path in (target, hidden_dir):
        if path.exists():
            raise UsageError(f"{path} exists already.", "Remove it, or pick another id.")
    values = {"id": milestone_id, "number": str(number), "folder": folder, "title": title,
              "title_yaml": json.dumps(title), "learner_file": f"{milestone_id}.py"}
    files = {target / "milestone.yaml": "milestone.yaml.tmpl", target / "README.md": "README.md.tmpl",
             target / "stub.py": "stub.py.tmpl", target / "reference.py": "reference.py.tmpl",
             hidden_dir / f"test_{milestone_id}.py": "test.py.tmpl"}
    with tempfile.TemporaryDirectory(prefix="challenge-new-", dir=milestones_root) as staging:
        # Built in a staging folder and moved into place whole: a failure leaves nothing half-written.
        staged, staged_hidden = Path(staging) / folder, Path(staging) / "hidden"
        (staged / "alternatives").mkdir(parents=True)
        (staged / "alternatives" / ".gitkeep").write_text("", encoding="utf-8")  # git keeps no empty folder
        staged_hidden.mkdir()
        for path, template in files.items():
            where = staged_hidden if path.parent == hidden_dir else staged
            (where / path.name).write_text(_render(TEMPLATES / kind / template, values), encoding="utf-8")
        (staged / "mutants.yaml").write_text(_render(TEMPLATES / "mutants.yaml.tmpl", values), encoding="utf-8")
        read_yaml_model(staged / "milestone.yaml", Milestone, folder=folder)  # the templates' own check
        hidden_root.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), target)
        shutil.move(str(staged_hidden), hidden_dir)
    written = sorted(p for p in target.rglob("*")) + [hidden_dir / f"test_{milestone_id}.py"]
    readme = _add_readme_row(milestones_root.parent / "README.md", number=number, milestone_id=milestone_id)
    return Scaffold(milestone_dir=target, hidden_test=hidden_dir / f"test_{milestone_id}.py", files=written,
                    readme=readme)


_TABLE_ROW = re.compile(r"^\| (\d\d) \| `[a-z][a-z0-9_]*`")


def _add_readme_row(readme: Path, *, number: int, milestone_id: str) -> Path | None:
    """Add the milestone's row after the last row of the README's milestone table; None where there is none."""
    try:
        lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError:
        return None
    rows = [i for i, line in enumerate(lines) if _TABLE_ROW.match(line)]
    if not rows:
        return None
    row = (f"| {number:02d} | `{milestone_id}` (bonus, draft) | TODO({milestone_id}): what the learner builds "
           "| 1–3 h |\n")  # the templates' target_hours
    lines.insert(rows[-1] + 1, row)
    readme.write_text("".join(lines), encoding="utf-8")
    return readme


def _render(template: Path, values: dict[str, str]) -> str:
    return Template(template.read_text(encoding="utf-8")).substitute(values)
