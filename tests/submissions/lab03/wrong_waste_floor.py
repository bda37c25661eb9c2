# expect-fail: kv_memory_waste_hand_cases, kv_memory_waste_random_and_bad_input
"""Paged reservation counted with floor(len / block_size) blocks: the partly filled last block is forgotten."""


def kv_memory_waste(seq_lens, max_seq_len, block_size):
    if block_size < 1 or max_seq_len < 1 or any(n < 0 or n > max_seq_len for n in seq_lens):
        raise ValueError("bad seq_lens, max_seq_len or block_size")
    used = sum(seq_lens)
    contiguous = len(seq_lens) * max_seq_len
    paged = sum(n // block_size * block_size for n in seq_lens)
    return {"contiguous": 1 - used / contiguous if contiguous else 0.0,
            "paged": 1 - used / paged if paged else 0.0}
