from challenge.record.eventlog import Event
from challenge.record.timekeeping import account

T0 = 1_000_000.0
MIN = 60.0


def ev(seq, minutes, type, milestone="attention", **data):
    return Event(seq=seq, ts=T0 + minutes * MIN, type=type, milestone=milestone, data=data, prev="", hash="")


def test_gaps_under_the_threshold_are_active_longer_ones_idle():
    events = [ev(0, 0, "start"), ev(1, 20, "test"), ev(2, 40, "test"), ev(3, 120, "test")]
    result = account(events, now=T0 + 120 * MIN, idle_threshold_s=30 * MIN)
    t = result.of("attention")
    assert t.active_s == 40 * MIN  # 0-20, 20-40
    assert t.idle_s == 80 * MIN  # 40-120 is one 80-minute gap
    assert t.clock_s == 120 * MIN


def test_pauses_are_excluded_and_counted_apart():
    events = [ev(0, 0, "start"), ev(1, 10, "pause"), ev(2, 70, "resume"), ev(3, 80, "test")]
    t = account(events, now=T0 + 80 * MIN, idle_threshold_s=30 * MIN).of("attention")
    assert t.active_s == 20 * MIN
    assert t.paused_s == 60 * MIN
    assert t.idle_s == 0


def test_edits_seen_on_disk_are_activity_points():
    # 100 minutes of editing with saves every 20 minutes, seen by one later command
    edits = [T0 + m * MIN for m in (20, 40, 60, 80, 100)]
    events = [ev(0, 0, "start"), ev(1, 101, "activity", milestone=None, edits=edits)]
    t = account(events, now=T0 + 101 * MIN, idle_threshold_s=30 * MIN).of("attention")
    assert t.active_s == 101 * MIN and t.idle_s == 0


def test_training_span_counts_as_busy_however_long():
    events = [ev(0, 0, "start", milestone="gpt"), ev(1, 10, "train", milestone="gpt"),
              ev(2, 130, "train", milestone="gpt", busy_s=120 * MIN)]
    t = account(events, now=T0 + 130 * MIN, idle_threshold_s=30 * MIN).of("gpt")
    assert t.active_s == 130 * MIN


def test_time_goes_to_the_milestone_worked_on_most_recently():
    events = [ev(0, 0, "start"), ev(1, 10, "start", milestone="multihead"), ev(2, 25, "test", milestone="multihead"),
              ev(3, 30, "test", milestone="attention"), ev(4, 35, "hint", milestone="attention")]
    result = account(events, now=T0 + 35 * MIN, idle_threshold_s=30 * MIN)
    assert result.of("attention").active_s == 15 * MIN  # 0-10 and 30-35
    assert result.of("multihead").active_s == 20 * MIN  # 10-30


def test_running_clock_counts_up_to_now_unless_idle():
    events = [ev(0, 0, "start")]
    assert account(events, now=T0 + 10 * MIN, idle_threshold_s=30 * MIN).of("attention").active_s == 10 * MIN
    t = account(events, now=T0 + 45 * MIN, idle_threshold_s=30 * MIN).of("attention")
    assert t.active_s == 0 and t.idle_s == 45 * MIN


def test_self_reported_adjustments_are_separate():
    events = [ev(0, 0, "start"), ev(1, 10, "time_adjust", seconds=5400, note="offline")]
    t = account(events, now=T0 + 10 * MIN, idle_threshold_s=30 * MIN).of("attention")
    assert t.active_s == 10 * MIN and t.adjusted_s == 5400
    assert t.total_s == 10 * MIN + 5400


def test_threshold_is_configurable():
    events = [ev(0, 0, "start"), ev(1, 20, "test")]
    assert account(events, now=T0 + 20 * MIN, idle_threshold_s=10 * MIN).of("attention").idle_s == 20 * MIN
    assert account(events, now=T0 + 20 * MIN, idle_threshold_s=30 * MIN).of("attention").active_s == 20 * MIN
