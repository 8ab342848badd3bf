"""`challenge show`: a bundle's report, rebuilt from its checked event log and
results documents as of its submit time, about the learner in the third
person (the reader is the employer). Nothing of the learner's runs (the
report builder reads JSON only), and the report files the learner shipped
are not trusted: the log is the record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from challenge.bundle.extract import Limits
from challenge.bundle.integrity import open_bundle
from milestones import Registry

if TYPE_CHECKING:
    from challenge.report.model import Report


@dataclass(frozen=True)
class Shown:
    report: Report
    handle: str
    created_at: float
    warnings: list[str]


def show_bundle(*, source: Path, registry: Registry, limits: Limits = Limits()) -> Shown:
    """The bundle's report; BundleInvalid (exit 2) when a check fails."""
    from challenge.report import build_report
    from challenge.report.model import READER

    with open_bundle(source, limits=limits) as opened:
        manifest = opened.require_valid()
        report = build_report(workspace_root=opened.workspace, registry=registry, now=manifest.created_at,
                              audience=READER)  # an employer reads it: the learner in the third person
        return Shown(report, manifest.handle, manifest.created_at, list(opened.warnings))
