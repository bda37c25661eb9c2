# expect-fail: disaggregated_tokens_equal_greedy, disaggregated_tokens_under_back_pressure, disaggregated_counts_prefill_once_and_exact_kv_bytes, corrupted_kv_is_detected, dropped_kv_is_recovered, late_kv_is_recovered, dead_decode_worker_loses_nothing
"""The prefill numbers positions from 1: its own first token is right (rotary attention is relative), but the
KV it hands over sits one position off for every decode step."""


def _prefill_positions(n, device):
    return torch.arange(1, n + 1, device=device)
