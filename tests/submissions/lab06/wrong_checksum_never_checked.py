# expect-fail: corrupted_kv_is_detected
"""Checksums travel with the KV but the decode worker never compares them: corrupted KV is used."""


def _install_kv(runner, seq, bufs, block_size):
    n = bufs[0].shape[1]
    slots = runner.kv_cache[0].slot_mapping(seq.block_table, 0, n)
    for i in range(len(runner.kv_cache)):
        runner.kv_cache[i].write(slots, bufs[2 * i][0], bufs[2 * i][1])
    return True
