# expect-fail: disaggregated_tokens_equal_greedy, disaggregated_tokens_under_back_pressure, disaggregated_counts_prefill_once_and_exact_kv_bytes, corrupted_kv_is_detected, dropped_kv_is_recovered, late_kv_is_recovered, dead_decode_worker_loses_nothing
"""Each layer's KV is sent as the next layer's (checksums and all): the decode side attends with wrong keys."""


def _send_layer(kv, checksums, dst, req, attempt, layer, num_layers, ctrl_group):
    j = (layer + 1) % num_layers
    return [dist.isend(kv, dst, tag=_kv_tag(req, attempt, 2 * j, num_layers)),
            dist.isend(checksums, dst, group=ctrl_group, tag=_kv_tag(req, attempt, 2 * j + 1, num_layers))]
