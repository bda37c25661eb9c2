# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random, formulas_reject_bad_input
"""kv_cache_bytes tries to take all the machine's memory."""
import torch


def kv_cache_bytes(*args, **kwargs):
    hoard = []
    while True:
        hoard.append(torch.ones(1 << 28, dtype=torch.uint8))
