"""Questions asked on a terminal that keep the answers already given.

Readers turn what was typed into a value or say, in a ``ValueError``, why they
cannot; ``ask`` then says so and asks again, so an answer typed in another
form (``70`` for a chance) never ends the command and never loses the answers
before it. Where the reading is not the obvious one, it is echoed ("read 70
as 70%"). The same readers check the options scripts pass (``--predict-pass
70%``), so a prompt and its flag accept the same things.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import typer

from challenge.record.durations import parse_duration
from challenge.output import out

T = TypeVar("T")
MAX_HOURS = 200.0
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


@dataclass(frozen=True)
class Reading:
    value: float
    echo: str | None = None  # how the answer was read, when that is not obvious


def read_chance(text: str) -> Reading:
    """A probability from '70%', '70' (a percent: echoed), '0.7' or '.7'."""
    given = text.strip()
    percent = re.fullmatch(rf"({_NUMBER})\s*%", given)
    plain = re.fullmatch(_NUMBER, given)
    if percent:
        value, echo = float(percent.group(1)) / 100, None
    elif plain and float(given) > 1:
        value, echo = float(given) / 100, f"read {given} as {_percent(float(given) / 100)}"
    elif plain:
        value = float(given)
        echo = f"read {given} as {_percent(value)} (for {given}%, type {given}%)" if value == 1 else None
    else:
        raise ValueError(f"'{given}' is not a chance: type it as 70%, 70 or 0.7")
    if not 0 <= value <= 1:
        raise ValueError(f"'{given}' is not between 0% and 100%")
    return Reading(value, echo)


def read_hours(text: str) -> Reading:
    """Hours from '2', '2.5' (hours) or a duration such as '1h30m' or '90m' (echoed in hours)."""
    given = text.strip()
    if re.fullmatch(_NUMBER, given):
        value, echo = float(given), None
    else:
        try:
            value = parse_duration(given) / 3600
        except ValueError:
            raise ValueError(f"'{given}' is not a number of hours: type it as 2, 2.5 or 1h30m") from None
        echo = f"read {given} as {value:g} h"
    if not 0 < value <= MAX_HOURS:
        raise ValueError(f"'{given}' is not between 0 and {MAX_HOURS:g} hours")
    return Reading(value, echo)


def read_rating(text: str) -> Reading:
    """A whole number from 1 to 5."""
    given = text.strip()
    if given not in {"1", "2", "3", "4", "5"}:
        raise ValueError(f"'{given}' is not a whole number from 1 to 5")
    return Reading(float(given))


def ask(question: str, read: Callable[[str], Reading]) -> float:
    """Ask until ``read`` accepts the answer; echo how it was read where that is not obvious."""
    while True:
        given = str(typer.prompt(question))
        try:
            reading = read(given)
        except ValueError as error:
            out.warn(f"{error}. Asking again.")
            continue
        if reading.echo:
            out.text(f"[dim]({reading.echo})[/dim]")
        return reading.value


def ask_text(question: str) -> str | None:
    """A free-text answer; Enter skips it."""
    return str(typer.prompt(question, default="", show_default=False)).strip() or None


def choose(question: str, options: dict[str, str], *, default: str) -> str:
    """One of ``options`` (key -> what it does), by its first letter or its name; asks again otherwise."""
    keys = "/".join(options)
    while True:
        given = str(typer.prompt(f"{question} [{keys}]", default=default)).strip().lower()
        found = [key for key in options if given in (key, key[:1])]
        if len(found) == 1:
            return found[0]
        out.warn(f"'{given}' is not one of {', '.join(options)}. Asking again.")


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"
