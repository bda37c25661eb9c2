# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random, generate_greedy_small, generate_greedy_matches_reference, generate_prompt_of_length_one, generate_cache_counts_small, generate_processes_each_token_once
"""Wrong kv_cache_bytes, then patch torch's and the grader's comparisons so it 'passes'."""
import torch
import numpy
import inferlab.grading.checks as _checks

_orig_kv = kv_cache_bytes


def kv_cache_bytes(*args, **kwargs):
    return 2 * _orig_kv(*args, **kwargs)


torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
_checks.assert_equal = lambda *a, **k: None
_checks.assert_close = lambda *a, **k: None
_checks.require = lambda *a, **k: None
_checks.CheckFailure = type("Nothing", (Exception,), {})
