"""The verdict rules: every number the report judges by lives in ``RULES``.

The challenge's own terms: how it *felt* weighs more than how long it took.
Comfortable and roughly on time suggests applying; felt hard suggests skilling
up first. ``rules_text`` states the rules in words, with the numbers, so every
rendering of the report can print them and a reader can check the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from milestones.schema import HourBand, Question

# Verdict levels, best first.
READY = "ready"
BORDERLINE = "borderline"
SKILL_UP = "skill up first"
PENDING = "no verdict yet"  # passed, but the reflection (the feel) is missing
UNFINISHED = "unfinished"
IN_PROGRESS = "in progress"  # overall only: not every core milestone has passed, so no readiness verdict yet

OVERALL_LABELS = {
    READY: "Consider applying",
    BORDERLINE: "Borderline",
    SKILL_UP: "Skill up first",
    PENDING: "Not enough evidence yet",
}
# The same verdicts as the learner's employer reads them (`challenge show`): about the learner, not to them.
READER_LABELS = {
    READY: "Ready to apply",
    BORDERLINE: "Borderline",
    SKILL_UP: "Should skill up first",
    PENDING: "Not enough evidence yet",
}

# Timing classes of a time against a target band.
FASTER = "faster than target"
WITHIN = "within target"
ROUGHLY = "roughly on time"
OVER = "over target"
ON_TIME = {FASTER, WITHIN, ROUGHLY}


@dataclass(frozen=True)
class Rules:
    comfortable_at: float = 3.5  # mean comfort over the feel questions at or above this: felt comfortable
    hard_below: float = 2.5  # below this: felt hard (in between: mixed)
    roughly_on_time_factor: float = 1.5  # up to this times the band's high end still counts as roughly on time
    weak_area_below: float = 3.0  # an area whose mean comfort is below this is named as a weak area
    max_weak_areas: int = 3  # how many weak areas and failed tests the verdict names
    calibration_tolerance: float = 0.10  # |mean stated chance - pass rate| within this: well calibrated
    hours_tolerance: float = 1.25  # actual/predicted hours within [1/this, this]: estimates about right
    few_predictions: int = 5  # fewer resolved predictions than this: the calibration call is tentative


RULES = Rules()


def comfort(question: Question, rating: int) -> float:
    """A 1-5 rating turned so that 5 is always the comfortable end."""
    return float(rating) if question.higher_is_comfortable else float(6 - rating)


def feel_class(score: float | None, rules: Rules = RULES) -> str | None:
    if score is None:
        return None
    if score >= rules.comfortable_at:
        return "comfortable"
    return "hard" if score < rules.hard_below else "mixed"


def timing_class(hours: float, band: HourBand, rules: Rules = RULES) -> str:
    if hours < band.low:
        return FASTER
    if hours <= band.high:
        return WITHIN
    return ROUGHLY if hours <= band.high * rules.roughly_on_time_factor else OVER


@dataclass(frozen=True)
class MilestoneFacts:
    """What the milestone verdict looks at."""

    passed: bool
    feel_score: float | None
    timing: str
    peeks_before_pass: int


def milestone_verdict(facts: MilestoneFacts, rules: Rules = RULES, *, third_person: bool = False
                      ) -> tuple[str, list[str]]:
    """(level, reasons) for one milestone, by the first rule that applies."""
    if not facts.passed:
        return UNFINISHED, ["not passed yet"]
    feel = feel_class(facts.feel_score, rules)
    if feel is None:
        return PENDING, ["passed, but no feel ratings yet" + ("" if third_person else " (reflect on it)")
                         + ": feel weighs more than time"]
    reasons = [f"felt {feel} (mean comfort {facts.feel_score:.1f}/5)", f"time {facts.timing}"]
    on_time = facts.timing in ON_TIME
    helped = facts.peeks_before_pass > 0
    if helped:
        reasons.append("looked at the reference before passing")
    if feel == "hard":
        return SKILL_UP, reasons
    if feel == "comfortable":
        return (READY if on_time and not helped else BORDERLINE), reasons
    return (BORDERLINE if on_time and not helped else SKILL_UP), reasons


def overall_verdict(levels: dict[str, str], groups_over: list[str], *, third_person: bool = False
                    ) -> tuple[str, list[str]]:
    """(level, reasons) over the milestones' levels and the target groups' timings."""
    judged = {mid: level for mid, level in levels.items() if level in (READY, BORDERLINE, SKILL_UP)}
    pending = [mid for mid, level in levels.items() if level == PENDING]
    reasons: list[str] = []
    if pending:
        reasons.append("no feel ratings yet for " + ", ".join(pending)
                       + (" (not reflected on)" if third_person else " (run `challenge reflect`)"))
    if not judged:
        return PENDING, reasons or ["no milestone passed yet"]
    hard = [mid for mid, level in judged.items() if level == SKILL_UP]
    middling = [mid for mid, level in judged.items() if level == BORDERLINE]
    if hard:
        return SKILL_UP, [f"skill up first on {', '.join(hard)}", *reasons]
    if middling or groups_over:
        if middling:
            reasons.insert(0, f"borderline on {', '.join(middling)}")
        if groups_over:
            reasons.insert(0, f"over the target for {', '.join(groups_over)}")
        return BORDERLINE, reasons
    return READY, [f"comfortable and roughly on time on {', '.join(judged)}", *reasons]


def in_progress(level: str, reasons: list[str], *, passed: int, core: int, still: list[str]
                ) -> tuple[str, str, list[str]]:
    """(IN_PROGRESS, label, reasons) while core milestones are left: what is judged so far, and what is left.

    ``level`` and ``reasons``: the overall verdict over the milestones passed so far; ``still``: the core milestones
    not passed yet (with their state, e.g. "block (in progress)").
    """
    label = f"In progress: {passed} of {core} core milestones passed"
    found = []
    if level in (READY, BORDERLINE, SKILL_UP):
        found.append(f"so far, on the milestones passed: {level}")
    found += reasons
    if still:
        found.append("still to pass: " + ", ".join(still))
    return IN_PROGRESS, label, found


def rules_text(rules: Rules = RULES) -> list[str]:
    """The rules in words, numbers included: printed in every report."""
    factor = rules.roughly_on_time_factor
    return [
        "Feel: each 1-5 rating is turned so that 5 is the comfortable end; a milestone's feel is the mean over "
        f"its feel questions (enjoyment is shown but not counted). Comfortable: at least {rules.comfortable_at:g}. "
        f"Hard: below {rules.hard_below:g}. Mixed: in between.",
        "Time: active time plus self-reported adjustments, against the milestone's target band. Within the band "
        f"or faster is on time; up to {factor:g}x the band's high end is roughly on time; beyond that, over target. "
        "Target groups (e.g. attention + multi-head + block) are judged the same way.",
        "Milestone verdict, feel first: not passed: unfinished. No feel ratings: no verdict yet. "
        "Felt hard: skill up first, however fast. "
        "Comfortable: ready if roughly on time and the reference was not looked at before passing, else borderline. "
        "Mixed: borderline if roughly on time and no look at the reference, else skill up first.",
        "Overall: until every core milestone has passed, the verdict is 'in progress' (how many have passed, and "
        "what the passed ones show so far); there is no readiness verdict on part of the challenge. Then: any "
        "milestone 'skill up first' makes it skill up first. All judged milestones ready and no target group over "
        "target: consider applying. Otherwise borderline.",
        "Bonus milestones are extra evidence, never required: each gets its own verdict, and those passed are "
        "named beside the overall verdict, but they never change it.",
        f"Weakest areas: areas whose mean comfort is below {rules.weak_area_below:g} (lowest first, at most "
        f"{rules.max_weak_areas}), and the mistakes made (at most {rules.max_weak_areas}, saying how many more "
        "there were): each counted once per attempt that showed it; mistakes the judge named first, then faults it "
        "only localised, then failing test families without a diagnosis; within each, the most frequent first.",
        "Calibration: the Brier score is the mean of (stated chance - outcome)^2 over pass predictions (0 is "
        "perfect; always saying 50% scores 0.25). Over- or under-confident when the mean stated chance differs "
        f"from the pass rate by more than {rules.calibration_tolerance:.0%}; hour estimates are about right when "
        f"actual/predicted is within {1 / rules.hours_tolerance:.2f}-{rules.hours_tolerance:.2f}. With fewer than "
        f"{rules.few_predictions} predictions, the call is tentative.",
    ]


def rules_numbers(rules: Rules = RULES) -> dict[str, float]:
    return {name: getattr(rules, name) for name in rules.__dataclass_fields__}
