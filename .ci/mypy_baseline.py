#!/usr/bin/env python3
"""mypy's errors may only go down: compare a run's counts per file with .ci/mypy-baseline.txt.

Usage: mypy | python .ci/mypy_baseline.py            (fails on a file with more errors than its baseline)
       mypy | python .ci/mypy_baseline.py --update   (writes the current counts: after fixing errors)
The strict modules (pyproject.toml, [tool.mypy] overrides) have no baseline: any error there fails.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

BASELINE = Path(__file__).resolve().parent / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<file>[^:\s]+\.py):\d+: error:")


def counts(lines: list[str]) -> Counter[str]:
    return Counter(match["file"] for line in lines if (match := ERROR.match(line)))


def read_baseline() -> Counter[str]:
    found: Counter[str] = Counter()
    for line in BASELINE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            number, name = line.split(maxsplit=1)
            found[name] = int(number)
    return found


def main(argv: list[str]) -> int:
    now = counts(sys.stdin.read().splitlines())
    if "--update" in argv:
        BASELINE.write_text("# mypy errors per file that may only go down (.ci/mypy_baseline.py --update)\n"
                            + "".join(f"{now[name]} {name}\n" for name in sorted(now)), encoding="utf-8")
        print(f"baseline: {sum(now.values())} errors in {len(now)} files")
        return 0
    allowed = read_baseline()
    worse = {name: (count, allowed[name]) for name, count in now.items() if count > allowed[name]}
    for name, (count, limit) in sorted(worse.items()):
        print(f"{name}: {count} mypy errors where the baseline allows {limit}", file=sys.stderr)
    better = sum(allowed.values()) - sum(now.values())
    print(f"mypy: {sum(now.values())} errors in {len(now)} files (baseline {sum(allowed.values())})"
          + (f"; {better} fewer: lower the baseline with --update" if better > 0 and not worse else ""))
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
