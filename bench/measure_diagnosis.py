"""Measure the differential diagnosis on the mutant catalogue (milestones 1-3 by default).

For every mutant: does its first failing test name its mistake (as ``challenge dev
check`` requires)? And for every hint shown on a failing test: is it the hint of the
mistake the probes diagnosed on that test (tagged), or one the probes did not rule out
while naming a different mistake (a possible contradiction, listed for review)?
Also times one failing run (the probes run) against the reference's passing run.

    CHALLENGE_DATA_DIR=... python bench/measure_diagnosis.py [attention multihead block]
"""

from __future__ import annotations

import sys
import time

from challenge.dev.catalogue import catalogue, learner_copy
from challenge.dev.check import DEFAULT_SEED, KINDS, judge, run_entry
from grader.judge.diagnosis.catalogue import BY_ID
from milestones import load_registry


def _hint_of(mistake: str) -> set[str]:
    return {BY_ID[part].hint for part in mistake.split("+") if part in BY_ID}


def measure(name: str, registry) -> tuple[int, int, list[str], dict[str, float]]:
    milestone = registry.get(name)
    entries, _ = catalogue(registry=registry, milestone=milestone)
    kind = KINDS[milestone.kind]
    named, total, suspect, times = 0, 0, [], {}
    for entry in entries:
        if entry.role not in ("mutant", "reference"):
            continue
        with learner_copy(entry.text(), milestone) as learner_file:
            start = time.perf_counter()
            result = run_entry(registry=registry, milestone=milestone, entry=entry, learner_file=learner_file,
                               seed=DEFAULT_SEED, kind=kind)
            times[entry.name] = time.perf_counter() - start
        if entry.role == "reference":
            continue
        total += 1
        named += judge(entry, result, DEFAULT_SEED).ok
        for test in result.tests:
            if test.status == "pass" or not test.hint:
                continue
            diagnosed = test.diagnosis.mistake if test.diagnosis is not None else ""
            if diagnosed and test.hint in _hint_of(diagnosed):
                continue  # the diagnosed mistake's own hint
            suspect.append(f"{name}/{entry.name} (expect {entry.expect}) {test.name}: diagnosis "
                           f"'{diagnosed or '-'}', hint: {test.hint[:140]}")
    return named, total, suspect, times


def main(names: list[str]) -> None:
    registry = load_registry()
    all_named = all_total = 0
    for name in names:
        named, total, suspect, times = measure(name, registry)
        all_named, all_total = all_named + named, all_total + total
        mutants = {k: v for k, v in times.items() if k != "reference"}
        print(f"{name}: first failure names the mistake for {named}/{total} mutants; reference run "
              f"{times['reference']:.1f} s, mutant runs median {sorted(mutants.values())[len(mutants) // 2]:.1f} s, "
              f"max {max(mutants.values()):.1f} s; {len(suspect)} hints not the diagnosed mistake's own:")
        for line in suspect:
            print("   ", line)
    print(f"total: {all_named}/{all_total}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["attention", "multihead", "block"])
