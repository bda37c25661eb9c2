# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random, matmul_cost_hand_cases, roofline_time_hand_cases, formulas_reject_bad_input
"""Exits and interrupts inside graded calls and at top level."""
import os
import sys


def kv_cache_bytes(*args, **kwargs):
    os._exit(0)


def matmul_cost(*args, **kwargs):
    raise KeyboardInterrupt


def roofline_time(*args, **kwargs):
    sys.exit(0)


print("All tests passed! lab01: 100/100")
raise SystemExit(0)
