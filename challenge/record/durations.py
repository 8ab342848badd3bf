"""Parse and print durations like ``1h30m``, ``45m``, ``-20m``, ``1.5h``, ``90s``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError with an example when unreadable."""
    cleaned = text.strip().lower().replace(" ", "")
    sign = -1.0 if cleaned.startswith("-") else 1.0
    cleaned = cleaned.lstrip("+-")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        cleaned += "m"  # a bare number means minutes
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"cannot read '{text}' as a duration (examples: 1h30m, 45m, -20m, 1.5h)")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0}
    return sign * sum(float(n) * scale[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    minutes = int(round(abs(seconds) / 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    return f"{sign}{minutes}m"
