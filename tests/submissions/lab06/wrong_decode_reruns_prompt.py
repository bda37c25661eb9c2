# expect-fail: disaggregated_counts_prefill_once_and_exact_kv_bytes
"""The decode worker ignores the KV it received and runs the prompt again to rebuild it: right tokens, the
prefill's work done twice."""


def _install_kv(runner, seq, bufs, block_size):
    n = bufs[0].shape[1]
    ids, positions, info = runner.prepare([(seq, n)])
    runner.forward(ids, positions, info)  # writes the prompt's KV into seq's blocks
    return True
