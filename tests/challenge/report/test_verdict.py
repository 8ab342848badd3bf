"""The verdict rules: feel first, then time, then help."""

import pytest

from challenge.report.verdict import (
    BORDERLINE, FASTER, IN_PROGRESS, OVER, PENDING, READY, ROUGHLY, RULES, SKILL_UP, UNFINISHED, WITHIN,
    MilestoneFacts, comfort, in_progress, milestone_verdict, overall_verdict, rules_text, timing_class,
)
from milestones.schema import HourBand, Question


def facts(feel, timing=WITHIN, passed=True, peeks=0):
    return MilestoneFacts(passed=passed, feel_score=feel, timing=timing, peeks_before_pass=peeks)


@pytest.mark.parametrize("feel, timing, peeks, level", [
    (4.0, WITHIN, 0, READY),
    (4.0, ROUGHLY, 0, READY),
    (4.0, OVER, 0, BORDERLINE),  # comfortable but slow: feel weighs more, so not "skill up"
    (4.0, WITHIN, 1, BORDERLINE),  # looked at the reference before passing
    (3.0, FASTER, 0, BORDERLINE),  # mixed and on time
    (3.0, OVER, 0, SKILL_UP),  # mixed and slow
    (2.0, FASTER, 0, SKILL_UP),  # felt hard, however fast
    (RULES.comfortable_at, WITHIN, 0, READY),  # the boundary counts as comfortable
    (RULES.hard_below, WITHIN, 0, BORDERLINE),  # the boundary is not hard
])
def test_milestone_verdict(feel, timing, peeks, level):
    assert milestone_verdict(facts(feel, timing, peeks=peeks))[0] == level


def test_unfinished_and_unreflected_milestones_get_no_verdict():
    assert milestone_verdict(facts(4.0, passed=False))[0] == UNFINISHED
    assert milestone_verdict(facts(None))[0] == PENDING


def test_timing_classes():
    band = HourBand(low=2, high=4)
    assert timing_class(1.9, band) == FASTER
    assert timing_class(2, band) == WITHIN and timing_class(4, band) == WITHIN
    assert timing_class(6, band) == ROUGHLY  # 1.5 x 4
    assert timing_class(6.01, band) == OVER


def test_comfort_follows_the_question_direction():
    up = Question(text="q", low="bad", high="good", area="a")
    down = Question(text="q", low="good", high="bad", area="a", higher_is_comfortable=False)
    assert comfort(up, 4) == 4 and comfort(down, 4) == 2


def test_overall_verdict():
    assert overall_verdict({"a": READY, "b": READY}, [])[0] == READY
    assert overall_verdict({"a": READY, "b": BORDERLINE}, [])[0] == BORDERLINE
    assert overall_verdict({"a": READY, "b": SKILL_UP}, [])[0] == SKILL_UP
    assert overall_verdict({"a": READY}, ["Attention group"])[0] == BORDERLINE
    assert overall_verdict({"a": UNFINISHED}, [])[0] == PENDING
    level, reasons = overall_verdict({"a": READY, "b": PENDING}, [])
    assert level == READY and any("challenge reflect" in r for r in reasons)


def test_in_progress_names_the_progress_and_what_is_judged_so_far():
    level, label, reasons = in_progress(BORDERLINE, ["borderline on b"], passed=3, core=6,
                                        still=["c (in progress)", "d (not started)"])
    assert level == IN_PROGRESS and label == "In progress: 3 of 6 core milestones passed"
    assert reasons == ["so far, on the milestones passed: borderline", "borderline on b",
                       "still to pass: c (in progress), d (not started)"]
    # nothing judged yet (passed but not reflected): no "so far" line, only what is missing
    assert in_progress(PENDING, ["no feel ratings yet for a"], passed=1, core=6, still=[])[2] == [
        "no feel ratings yet for a"]


def test_the_third_person_speaks_about_the_learner():
    assert "reflect on it" not in " ".join(milestone_verdict(facts(None), third_person=True)[1])
    reasons = overall_verdict({"a": READY, "b": PENDING}, [], third_person=True)[1]
    assert not any("challenge reflect" in r for r in reasons) and any("not reflected" in r for r in reasons)


def test_the_rules_text_carries_the_numbers():
    text = " ".join(rules_text())
    for number in ("3.5", "2.5", "1.5x", "10%", "0.25"):
        assert number in text
