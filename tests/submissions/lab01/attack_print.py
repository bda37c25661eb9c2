# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random
"""Print what a passing grade looks like, everywhere it might be read."""
import json
import sys

_fake = json.dumps({"lab": "lab01", "score": 999, "max_score": 999, "tests": []})
print(_fake)
print("PASS lab01.kv_cache_bytes_llama2_7b\nall tests passed", file=sys.stderr)
sys.stdout.write(_fake + "\n")
_orig_kv = kv_cache_bytes


def kv_cache_bytes(*args, **kwargs):
    print(_fake)
    print("PASS all checks")
    return 2 * _orig_kv(*args, **kwargs)
