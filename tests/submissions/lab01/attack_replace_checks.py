# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random
"""Wrong kv_cache_bytes, then try to import and neuter the hidden checks themselves."""
import sys

_orig_kv = kv_cache_bytes


def kv_cache_bytes(*args, **kwargs):
    return 2 * _orig_kv(*args, **kwargs)


try:
    import autograder.lab01 as _ag
    for _c in _ag.checks.items:
        object.__setattr__(_c, "fn", lambda sub, rng: None)
except Exception as e:  # refused: the checks are unreadable from here
    print("could not import the checks:", type(e).__name__)
sys.modules["autograder.lab01"] = type(sys)("autograder.lab01")
