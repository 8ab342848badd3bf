"""One verification in its own process: ``python -m challenge.cohort.job``.

The scheduler (``challenge.cohort.run``) starts one of these per bundle. Its
own process, for three reasons: each verification starts bubblewrap sandboxes
with ``--die-with-parent``, which ties a sandbox to the *thread* that started
it, so that thread must live as long as the verification (this process's main
thread does); a bundle that crashes or exhausts its verifier takes down only
its own job; and the memory of a finished job goes back to the system.

This process dies with the scheduler (``PR_SET_PDEATHSIG``): a killed run
leaves no verification running, and its sandboxes die with it. It writes one
JSON payload (the verify document, the claims, the code, the exit code and a
one-line reason) atomically to ``--payload``; the scheduler turns it into the
results document. No payload means the job failed (killed, out of memory).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a verification starts: the death signal is armed first
    from challenge.bundle.verify import Verification, VerifyOptions
    from milestones import Registry

REASON_LIMIT = 1000


def verify_one(*, source: Path, registry: "Registry", options: "VerifyOptions | None" = None,
               isolation: Callable[[], str | None] | None = None) -> dict[str, Any]:
    """Verify one bundle; the payload for its results document (never raises for a bad bundle)."""
    from challenge.cohort.bundles import read_learner
    from challenge.bundle.errors import IsolationUnavailable
    from challenge.bundle.verify import VerifyOptions, isolation_problem, verify_bundle
    from challenge.cohort.documents import Claims

    read: dict[str, Any] = {"claims": None, "code": {}}

    def read_claims(opened) -> None:
        try:
            learner, code = read_learner(opened=opened, registry=registry, source=str(source))
        except Exception as error:  # noqa: BLE001 - the claims feed the cohort report; verification goes on
            read["note"] = f"the learner's report could not be read: {type(error).__name__}: {error}"
            return
        read["claims"], read["code"] = Claims.of(learner).model_dump(mode="json"), code

    try:
        verification = verify_bundle(source=source, registry=registry, options=options or VerifyOptions(),
                                     isolation=isolation or isolation_problem, on_checked=read_claims)
    except IsolationUnavailable as refused:
        return _payload(3, f"refused: this machine cannot isolate the learner's code ({refused.reason})", None, read)
    document = verification.to_dict()
    if "note" in read:
        document["warnings"] = [*document["warnings"], read["note"]]
    return _payload(verification.exit_code, describe(verification), document, read)


def describe(verification: "Verification") -> str:
    """One line: why the bundle is what its exit code says."""
    if verification.problems:
        more = len(verification.problems) - 1
        return verification.problems[0].describe() + (f" (and {more} more)" if more else "")
    wrong = [m for m in verification.milestones if not m.agrees]
    if wrong:
        return "claimed passes that did not pass here: " + "; ".join(
            f"{m.id} ({m.verified}{' ' + m.tests if m.tests else ''}{': ' + m.notes[0] if m.notes else ''})"
            for m in wrong)
    claimed = [m.id for m in verification.milestones if m.claimed == "pass"]
    return f"every claimed pass verified: {', '.join(claimed)}" if claimed else "no pass claimed"


def failure_payload(reason: str) -> dict[str, Any]:
    return _payload(4, reason, None, {"claims": None, "code": {}})


def _payload(exit_code: int, reason: str, verification: dict | None, read: dict) -> dict[str, Any]:
    reason = " ".join(reason.split())
    if len(reason) > REASON_LIMIT:
        reason = reason[:REASON_LIMIT - 1] + "…"
    return {"exit_code": exit_code, "reason": reason, "verification": verification, "claims": read["claims"],
            "code": read["code"]}


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the scheduler dies (Linux: PR_SET_PDEATHSIG; elsewhere a thread watches the parent)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl failed")
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(137)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(137)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m challenge.cohort.job", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--payload", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--allow-unisolated", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)

    from challenge.bundle.verify import VerifyOptions
    from challenge.record.storage import write_json_atomic
    from milestones import load_registry

    options = VerifyOptions(retrain=args.retrain, allow_unisolated=args.allow_unisolated, seed=args.seed)
    from grader.api import Interrupted

    try:
        payload = verify_one(source=args.bundle, registry=load_registry(), options=options)
    except (KeyboardInterrupt, Interrupted):
        return 130  # the run is being stopped: no payload, the bundle is verified again next time
    except Exception as error:  # noqa: BLE001 - a bug or a bundle that breaks the verifier: this bundle only
        import traceback

        traceback.print_exc()  # into the job's log, kept beside the payload until the scheduler reads it
        payload = failure_payload(f"the verification crashed: {type(error).__name__}: {error}")
    write_json_atomic(args.payload, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
