"""The report as a JSON document (its fields are ``Report.to_dict``: the model's own data, in one place)."""

from __future__ import annotations

import json
from typing import Any

from challenge.report.model import Report


def report_to_dict(report: Report) -> dict[str, Any]:
    return report.to_dict()


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
