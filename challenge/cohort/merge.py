"""`challenge cohort merge`: the results documents of one or more runs (shards)
into one cohort report.

Documents are keyed by bundle sha256: the same document read twice, or two
shards that overlap, count once. When two documents of one bundle differ (two
graders, or one run that failed and one that finished), a final outcome wins
over a retry-able one, then the later verification; the report says so.

The cohort statistics are ``challenge.cohort.bundles``'s (what `challenge
cohort compare` shows: per milestone, where each learner falls, similar code),
built from the claims and code kept in the documents; this module adds what
only verification knows (claimed against verified, per learner and per
milestone), time against the challenge's targets, and calibration across the
cohort. Everything here is a pure function of the documents: merging the same
documents gives the same report, byte for byte, wherever they were verified.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from challenge.cohort.bundles import Cohort, Learner, Spread, assemble, spread, unique_labels
from challenge.cohort.documents import Fingerprint, ResultDocument, read_document, result_files
from challenge.errors import UsageError
from challenge.report.verdict import FASTER, OVER, ROUGHLY, WITHIN, timing_class
from challenge.safe_json import UntrustedJSON, validate
from milestones import Registry

TIMING_CLASSES = (FASTER, WITHIN, ROUGHLY, OVER)
CALIBRATION_BINS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))


class _Checked(BaseModel):
    """What the merge reads of one milestone of a ``challenge verify --json`` document."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: Annotated[str, Field(max_length=64)]
    claimed: Annotated[str, Field(max_length=40)]
    verified: Annotated[str, Field(max_length=40)]
    tests: Annotated[str, Field(max_length=40)] = ""
    agrees: bool
    similarity: float | None = None


class _Verification(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    handle: Annotated[str, Field(max_length=200)] = ""
    milestones: list[_Checked] = []


@dataclass(frozen=True)
class BundleRow:
    """One bundle: its learner's label, its document and, per milestone, what was claimed and verified."""

    label: str
    document: ResultDocument
    checked: tuple[_Checked, ...]


@dataclass(frozen=True)
class TargetRow:
    """Time of those who completed a milestone (or a group of them) against the challenge's target band."""

    id: str  # a milestone, or a target group
    title: str  # the milestone, or the group's milestones ("attention + multihead + block")
    low: float  # hours
    high: float
    hours: Spread | None  # total hours (active + self-reported, as the learner's report judges them)
    classes: dict[str, int]  # timing class -> learners


@dataclass(frozen=True)
class CalibrationBin:
    """Stated chances of passing at the first test in [low, high), against how many did."""

    low: float
    high: float
    n: int
    stated: float | None  # mean stated chance
    passed: float | None  # share that passed at the first test


@dataclass
class MergedCohort:
    rows: list[BundleRow]
    cohort: Cohort  # the learners whose claims could be read, in the rows' order
    verified: dict[str, tuple[int, int]]  # milestone -> (claimed passes, of them verified here)
    targets: list[TargetRow]
    calibration: list[CalibrationBin]
    graders: list[Fingerprint]  # distinct fingerprints the documents were verified with
    duplicates: int = 0  # documents of a bundle already read (overlapping shards, a folder given twice)
    conflicts: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def exit_code(self) -> int:
        return max((r.document.exit_code for r in self.rows), default=0)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.document.outcome == outcome)


def merge_results(*, folders: Sequence[Path], registry: Registry) -> MergedCohort:
    """Every results document under ``folders`` (folders of documents, or documents), merged."""
    documents, unreadable = read_all(folders)
    chosen, duplicates, conflicts = _one_per_bundle(documents)
    if not chosen:
        raise UsageError("No results documents in " + ", ".join(str(f) for f in folders) + ".",
                         "Give the --output folders of `challenge cohort verify` runs.")
    rows = _rows(chosen)
    found = [(doc.claims.learner(source=doc.source), doc.code) for doc in (r.document for r in rows) if doc.claims]
    excluded = [(r.document.source, r.document.reason) for r in rows if r.document.claims is None]
    cohort = assemble(found, registry=registry, excluded=excluded)
    graders = sorted({r.document.fingerprint.model_dump_json(): r.document.fingerprint for r in rows}.items())
    return MergedCohort(rows=rows, cohort=cohort, verified=_verified(rows, registry),
                        targets=time_against_targets(cohort.learners, registry),
                        calibration=calibration_bins(cohort.learners), graders=[g for _, g in graders],
                        duplicates=duplicates, conflicts=conflicts, unreadable=unreadable)


def read_all(paths: Sequence[Path]) -> tuple[list[ResultDocument], list[tuple[str, str]]]:
    documents, unreadable = [], []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UsageError(f"{path} does not exist.", "Give the --output folders of `challenge cohort verify`.")
        for file in result_files(path) if path.is_dir() else [path]:
            try:
                documents.append(read_document(file))
            except UntrustedJSON as error:
                unreadable.append((str(file), error.reason))
    return documents, unreadable


def _one_per_bundle(documents: Sequence[ResultDocument]) -> tuple[list[ResultDocument], int, list[str]]:
    by_bundle: dict[str, list[ResultDocument]] = {}
    for document in documents:
        by_bundle.setdefault(document.bundle_sha256, []).append(document)
    chosen, duplicates, conflicts = [], 0, []
    for sha, found in sorted(by_bundle.items()):
        duplicates += len(found) - 1
        best = max(found, key=lambda d: (d.final, d.verified_at))
        if len({(d.fingerprint.model_dump_json(), d.exit_code) for d in found}) > 1:
            conflicts.append(f"{best.source} ({sha[:12]}): {len(found)} documents disagree; kept the latest "
                             f"{'final ' if best.final else ''}one ({best.outcome})")
        chosen.append(best)
    return chosen, duplicates, conflicts


def _rows(documents: Sequence[ResultDocument]) -> list[BundleRow]:
    def key(doc: ResultDocument) -> tuple:
        return (doc.claims is None, doc.claims.handle if doc.claims else Path(doc.source).name, doc.bundle_sha256)

    ordered = sorted(documents, key=key)
    labels = iter(unique_labels([d.claims.handle for d in ordered if d.claims]))
    rows = []
    for doc in ordered:
        rows.append(BundleRow(label=next(labels) if doc.claims else Path(doc.source).name, document=doc,
                              checked=tuple(_checked(doc))))
    return rows


def _checked(document: ResultDocument) -> list[_Checked]:
    if not document.verification:
        return []
    try:
        return list(validate(_Verification, document.verification).milestones)
    except UntrustedJSON:
        return []


def _verified(rows: Sequence[BundleRow], registry: Registry) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for milestone in registry.milestones:
        claimed = [c for r in rows for c in r.checked if c.id == milestone.id and c.claimed == "pass"]
        if claimed:
            counts[milestone.id] = (len(claimed), sum(1 for c in claimed if c.verified == "pass"))
    return counts


def time_against_targets(learners: Sequence[Learner], registry: Registry) -> list[TargetRow]:
    """Per milestone and per target group (the challenge states e.g. 5-10 h for attention + multi-head +
    block together): the hours of those who passed all of it, and how many were faster, within, roughly
    on time or over (``challenge.report.verdict.timing_class``, the learner's report's own rule)."""
    rows = []
    for milestone in registry.milestones:
        hours = [ln.milestones[milestone.id].actual_hours for ln in learners
                 if ln.milestones.get(milestone.id) and ln.milestones[milestone.id].status == "passed"]
        if hours:
            rows.append(_target_row(milestone.id, milestone.id, milestone.target_hours, hours))
    for gid, group in registry.groups.groups.items():
        members = [m.id for m in registry.milestones if m.target_group == gid]
        if len(members) < 2:
            continue
        hours = [sum(ln.milestones[m].actual_hours for m in members) for ln in learners
                 if all(ln.milestones.get(m) and ln.milestones[m].status == "passed" for m in members)]
        if hours:
            rows.append(_target_row(gid, " + ".join(members), group.target_hours, hours))
    return rows


def _target_row(id: str, title: str, band, hours: list[float]) -> TargetRow:
    classes = {name: 0 for name in TIMING_CLASSES}
    for value in hours:
        classes[timing_class(value, band)] += 1
    return TargetRow(id=id, title=title, low=band.low, high=band.high, hours=spread(hours), classes=classes)


def calibration_bins(learners: Sequence[Learner]) -> list[CalibrationBin]:
    """Every learner's stated chance of passing each milestone at the first test, binned, against the
    share that did: a reliability table for the whole cohort (well calibrated: the two columns agree)."""
    pairs = [(m.predicted_pass, bool(m.first_pass)) for ln in learners for m in ln.milestones.values()
             if m.predicted_pass is not None and m.first_pass is not None]
    bins = []
    for low, high in CALIBRATION_BINS:
        inside = [(p, hit) for p, hit in pairs if low <= p < high or (high == 1.0 and p == 1.0)]
        bins.append(CalibrationBin(low, high, len(inside),
                                   statistics.fmean(p for p, _ in inside) if inside else None,
                                   statistics.fmean(float(hit) for _, hit in inside) if inside else None))
    return bins
