"""A synthetic workspace with a known history, built through the real event log
with an injected clock. The numbers in test_build.py are computed by hand from
the timeline below (minutes after T0; idle threshold 30 min).

  0   start attention (predict 2 h, 50% first pass)
  25  test attention, confidence 0.8: fail 10/12 (causal mask: no diagnosis; fully masked rows: diagnosed)
  35  hint attention
  60  test attention, confidence 0.7: fail 11/12 (fully masked rows: diagnosed)
      (a torn line: the process died mid-write)
  100 test attention: pass 12/12       (60-100 is a 40-minute gap: idle)
  105 reflect attention (comfortable)
  110 start multihead (predict 2 h, 60%)
  140 pause
  200 resume                           (60 min paused)
  230 test multihead, confidence 0.9: pass 9/9
  235 log-time multihead +30m "read the paper offline"
  237 reflect multihead (mixed), 238 reflect again (replaces it)
  240 start block (predict 1.5 h, 40%)
  260 test block: error (could not load)
  265 peek block
  290 test block: fail 5/8 (its results file is missing)
  now = 320: block in progress, not reflected
"""

from __future__ import annotations

import json

from challenge.record.storage import write_json_atomic
from challenge.record.workspace import init_workspace

T0 = 1_800_000_000.0
MIN = 60.0
NOW = T0 + 320 * MIN

ATTENTION_ANSWERS = {"obvious": 4, "pytorch": 4, "dimensions": 3, "papers": 4, "linear_algebra": 4,
                     "pytorch_source": 3, "difficulty": 4, "new_experience": 4, "enjoyment": 5, "masking": 4}
MULTIHEAD_FIRST = {qid: 1 for qid in ATTENTION_ANSWERS}
MULTIHEAD_ANSWERS = {"obvious": 3, "pytorch": 4, "dimensions": 2, "papers": 3, "linear_algebra": 3,
                     "pytorch_source": 2, "difficulty": 3, "new_experience": 3, "enjoyment": 4, "masking": 2}


def _answers(ratings: dict[str, int], notes: dict[str, str] | None = None) -> dict:
    notes = notes or {}
    return {"answers": {qid: {"rating": r, "text": notes.get(qid)} for qid, r in ratings.items()}}


NAN_ROWS = {"mistake": "nan-on-masked-rows", "summary": "NaN for a query whose keys are all masked",
            "evidence": "the rows with every key masked are NaN; every other row matches"}
FAMILIES = {"matches pytorch without mask [float32]": "test_matches_pytorch_without_mask",
            "causal mask [float32]": "test_causal_mask",
            "fully masked rows give zeros not nan": "test_fully_masked_rows_give_zeros_not_nan"}


def _results(ws, folder: str, name: str, milestone: str, status: str, tests: list[tuple[str, str]]) -> str:
    path = ws.results_dir(folder) / name
    write_json_atomic(path, {"schema": "challenge-results", "version": 1, "milestone": milestone, "status": status,
                             "message": "" if tests else "SyntaxError: invalid syntax (attention.py, line 3)",
                             "tests": [{"name": n, "status": s, "message": "", "hint": "", "output": "",
                                        "duration_s": 0.01, "family": FAMILIES.get(n, ""),
                                        "diagnosis": NAN_ROWS if s != "pass" and n.startswith("fully") else None}
                                       for n, s in tests]})
    return str(path.relative_to(ws.root))


def _test(ws, milestone: str, status: str, passed: int, total: int, results_file: str, **extra) -> None:
    ws.log.append("test", milestone=milestone, data={
        "status": status, "passed": passed, "total": total, "results_file": results_file,
        "builtins_used": extra.get("builtins_used", []), "forbidden_used": [], "busy_s": 0})


def build(tmp_path, clock):
    """Write the workspace; the clock ends at NOW."""
    clock.now = T0
    ws = init_workspace(handle="ada", path=tmp_path / "ws", clock=clock)
    log = ws.log

    def at(minutes: float) -> None:
        clock.now = T0 + minutes * MIN

    log.append("start", milestone="attention", data={"predict_hours": 2, "predict_pass": 0.5})
    names = ["matches pytorch without mask [float32]", "causal mask [float32]",
             "fully masked rows give zeros not nan"]
    at(25)
    log.append("prediction", milestone="attention", data={"kind": "confidence", "value": 0.8})
    first = _results(ws, "01_attention", "a1.json", "attention", "fail",
                     [(names[0], "pass"), (names[1], "fail"), (names[2], "fail")])
    _test(ws, "attention", "fail", 10, 12, first)
    at(35)
    log.append("hint", milestone="attention", data={"index": 0})
    at(60)
    log.append("prediction", milestone="attention", data={"kind": "confidence", "value": 0.7})
    second = _results(ws, "01_attention", "a2.json", "attention", "fail",
                      [(names[0], "pass"), (names[1], "pass"), (names[2], "fail")])
    _test(ws, "attention", "fail", 11, 12, second)
    with open(ws.root / "events.jsonl", "ab") as handle:  # a crash mid-write
        handle.write(b'{"v": 1, "seq": 99, "ts": 18000')
    at(100)
    third = _results(ws, "01_attention", "a3.json", "attention", "pass", [(n, "pass") for n in names])
    _test(ws, "attention", "pass", 12, 12, third, builtins_used=["torch.softmax"])
    at(105)
    log.append("reflect", milestone="attention",
               data=_answers(ATTENTION_ANSWERS, {"masking": "the all-masked row | NaN case took a while"}))
    at(110)
    log.append("start", milestone="multihead", data={"predict_hours": 2, "predict_pass": 0.6})
    at(140)
    log.append("pause", milestone="multihead")
    at(200)
    log.append("resume", milestone="multihead")
    at(230)
    log.append("prediction", milestone="multihead", data={"kind": "confidence", "value": 0.9})
    mh = _results(ws, "02_multihead", "m1.json", "multihead", "pass", [("one head", "pass")] * 9)
    _test(ws, "multihead", "pass", 9, 9, mh)
    at(235)
    log.append("time_adjust", milestone="multihead", data={"seconds": 1800, "note": "read the paper offline"})
    at(237)
    log.append("reflect", milestone="multihead", data=_answers(MULTIHEAD_FIRST))
    at(238)
    log.append("reflect", milestone="multihead", data=_answers(MULTIHEAD_ANSWERS))
    at(240)
    log.append("start", milestone="block", data={"predict_hours": 1.5, "predict_pass": 0.4})
    at(260)
    _test(ws, "block", "error", 0, 0, _results(ws, "03_block", "b1.json", "block", "error", []))
    at(265)
    log.append("peek", milestone="block", data={"forced": False})
    at(290)
    _test(ws, "block", "fail", 5, 8, "03_block/results/gone.json")
    at(320)
    return ws


def events_text(ws) -> str:
    return (ws.root / "events.jsonl").read_text()


__all__ = ["build", "NOW", "T0", "MIN", "json"]
