# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random, formulas_reject_bad_input
"""kv_cache_bytes never returns."""


def kv_cache_bytes(*args, **kwargs):
    while True:
        pass
