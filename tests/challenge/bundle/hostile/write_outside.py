# --- appended attack: write outside the scratch folder, then behave ----------
# Targets: the verifier's home, its working folder, /tmp, and any extracted
# bundle it can find under the temp folder (to swap in a forged result).
import glob as _glob
import os as _os

_honest_sdpa = scaled_dot_product_attention
_tried = []


def _vandalise():
    targets = ["@@HOME@@/pwned.txt", "@@CWD@@/pwned.txt", "@@TMP_TARGET@@"]
    targets += [p + "/pwned.txt" for p in _glob.glob("@@TMP@@/challenge-bundle-*")]
    for target in targets:
        try:
            with open(target, "w") as handle:
                handle.write("pwned")
            print(f"ATTEMPT write {target}: WRITTEN")
        except OSError as error:
            print(f"ATTEMPT write {target}: blocked ({type(error).__name__})")
    print(f"ATTEMPT write: scratch is {_os.getcwd()}")


def scaled_dot_product_attention(*args, **kwargs):
    if not _tried:
        _tried.append(1)
        _vandalise()
    return _honest_sdpa(*args, **kwargs)
