"""Measure the differential diagnosis on the mutant catalogue and on the unseen dev set
(milestones 1-3 by default).

For every catalogue mutant: does its first failing test name its mistake (as ``challenge
dev check`` requires)? For every mutant of the dev set of plausible mistakes the catalogue
never saw (``tests/grader/judge/diagnosis/unseen``): is the first failure's diagnosis
*named* (a mistake id, and the words the entry expects), *localised* (no id, but the
expected words: where, with evidence), a *wrong name*, or *neither*? And for every hint
shown on a catalogue mutant's failing test: is it the hint of the mistake the probes
diagnosed (tagged), or one the probes did not rule out while naming a different mistake
(listed for review)? Also times failing runs (the probes and analyses run) against the
reference's passing run, measured in the same process.

    CHALLENGE_DATA_DIR=... python bench/measure_diagnosis.py [--unseen-only] [--in-process] [-v] [attention ...]
    ... --unseen-only --in-process --without-analyses    # the same, with the catalogue's models alone

``--in-process`` runs the hidden tests in this process (no sandbox: trusted code only),
which is faster; its times are CPU seconds of the judge and the learner's code together.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

from challenge.dev.catalogue import catalogue, learner_copy, mutant_entry
from challenge.dev.check import DEFAULT_SEED, KINDS, judge, run_entry
from grader.judge.diagnosis.catalogue import BY_ID
from milestones import load_registry
from tests.grader.judge.diagnosis.unseen import devset


def _hint_of(mistake: str) -> set[str]:
    return {BY_ID[part].hint for part in mistake.split("+") if part in BY_ID}


class Runner:
    def __init__(self, registry, milestone, *, in_process: bool):
        self.registry, self.milestone, self.in_process = registry, milestone, in_process

    def tests(self, entry) -> tuple[list, float]:
        """The run's tests and its seconds: CPU seconds in process (a fair cost on a busy machine), else wall."""
        start = time.perf_counter()
        if self.in_process:
            from tests.grader.judge.diagnosis.inprocess import grade_in_process
            cpu = time.process_time()
            tests = grade_in_process(self.milestone.folder, entry.text(), self.milestone.learner_file)
            return tests, time.process_time() - cpu
        with learner_copy(entry.text(), self.milestone) as learner_file:
            result = run_entry(registry=self.registry, milestone=self.milestone, entry=entry,
                               learner_file=learner_file, seed=DEFAULT_SEED, kind=KINDS[self.milestone.kind])
        self.last = result
        return result.tests, time.perf_counter() - start


def _first(tests):
    return next((t for t in tests if t.status != "pass"), None)


def measure(name: str, registry, *, unseen_only: bool, in_process: bool, verbose: bool) -> dict:
    milestone = registry.get(name)
    entries, _ = catalogue(registry=registry, milestone=milestone)
    runner = Runner(registry, milestone, in_process=in_process)
    reference = next(e for e in entries if e.role == "reference")
    _, reference_s = runner.tests(reference)
    out = {"reference_s": reference_s, "catalogue": Counter(), "unseen": Counter(), "times": [], "suspect": [],
           "lines": []}
    if not unseen_only:
        for entry in entries:
            if entry.role != "mutant":
                continue
            tests, seconds = runner.tests(entry)
            out["times"].append(seconds)
            if in_process:
                first = _first(tests)
                ok = first is not None and first.diagnosis is not None and \
                    entry.expect in first.diagnosis.mistake.split("+")
                ok = ok or (first is not None and entry.expect.lower() in (first.message + first.hint).lower())
            else:
                ok = judge(entry, runner.last, DEFAULT_SEED).ok
            if not ok and in_process and entry.expect not in BY_ID:
                out["catalogue"]["sandbox only"] += 1  # e.g. the built-in rule, decided outside the hidden tests
                continue
            out["catalogue"]["named" if ok else "not named"] += 1
            if not ok:
                out["suspect"].append(f"{name}/{entry.name}: the first failure does not name '{entry.expect}'")
            for test in tests:
                if test.status == "pass" or not test.hint:
                    continue
                diagnosed = test.diagnosis.mistake if test.diagnosis is not None else ""
                if diagnosed and test.hint in _hint_of(diagnosed):
                    continue
                out["suspect"].append(f"{name}/{entry.name} (expect {entry.expect}) {test.name}: diagnosis "
                                      f"'{diagnosed or '-'}', hint: {test.hint[:140]}")
    folder = registry.folder(milestone)
    for mutant in devset.mutants(name):
        entry = mutant_entry(milestone=milestone, reference=folder / "reference.py", mutant=mutant)
        tests, seconds = runner.tests(entry)
        out["times"].append(seconds)
        first = _first(tests)
        verdict = "survives" if first is None else devset.verdict(first, mutant.expect)
        out["unseen"][verdict] += 1
        said = "" if first is None or first.diagnosis is None else \
            f"[{first.diagnosis.mistake or '-'}] {first.diagnosis.summary} | {first.diagnosis.evidence}"
        shown = said[:400] or (first.message[:200] if first else "")
        out["lines"].append(f"{verdict:>10} {name}/{mutant.name}: {shown}")
    return out


def _share(counts: Counter, *good: str) -> str:
    total = sum(counts.values())
    hits = sum(counts[g] for g in good)
    return f"{hits}/{total} ({100 * hits / total:.0f}%)" if total else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("milestones", nargs="*", default=["attention", "multihead", "block"])
    parser.add_argument("--unseen-only", action="store_true", help="skip the catalogue's mutants")
    parser.add_argument("--in-process", action="store_true", help="run in this process (trusted code only)")
    parser.add_argument("--without-analyses", action="store_true",
                        help="the catalogue's models alone, as before issue 23 (in process only): the baseline")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each dev-set mutant's first diagnosis")
    args = parser.parse_args()
    if args.without_analyses:
        if not args.in_process:
            parser.error("--without-analyses needs --in-process (the sandboxed judge is another process)")
        import grader.judge.diagnosis.hooks as hooks
        hooks.analyse = lambda unit, learner: []
    registry = load_registry()
    catalogue_total, unseen_total = Counter(), Counter()
    for name in args.milestones:
        out = measure(name, registry, unseen_only=args.unseen_only, in_process=args.in_process,
                      verbose=args.verbose)
        catalogue_total.update(out["catalogue"])
        unseen_total.update(out["unseen"])
        times = out["times"]
        extra = statistics.median(times) - out["reference_s"] if times else 0.0
        print(f"{name}: catalogue named {_share(out['catalogue'], 'named')} {dict(out['catalogue'])}; "
              f"unseen named or localised "
              f"{_share(out['unseen'], 'named', 'localised')} {dict(out['unseen'])}; reference run "
              f"{out['reference_s']:.1f} s, failing runs median {statistics.median(times):.1f} s "
              f"(+{extra:.1f} s, x{statistics.median(times) / out['reference_s']:.2f}), max {max(times):.1f} s")
        for line in out["lines"] if args.verbose else []:
            print("   ", line)
        for line in out["suspect"]:
            print("    hint to review:", line)
    print(f"total: catalogue named {_share(catalogue_total, 'named')}; unseen named or localised "
          f"{_share(unseen_total, 'named', 'localised')} {dict(unseen_total)}")


if __name__ == "__main__":
    main()
