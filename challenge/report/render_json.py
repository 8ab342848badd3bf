"""The report as a JSON document: ``schema`` and ``version`` first, floats
rounded so that the document is stable and readable."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from challenge.report.model import Report


def report_to_dict(report: Report) -> dict[str, Any]:
    raw = asdict(report)
    document = {"schema": raw.pop("schema"), "version": raw.pop("version"), **raw}
    document["log"]["intact"] = report.log.intact
    return _rounded(document)


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value
