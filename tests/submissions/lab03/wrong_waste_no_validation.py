# expect-fail: kv_memory_waste_random_and_bad_input
"""Right formula, no argument checks: a length over max_seq_len gives a negative waste instead of ValueError."""


def kv_memory_waste(seq_lens, max_seq_len, block_size):
    used = sum(seq_lens)
    contiguous = len(seq_lens) * max_seq_len
    paged = sum(-(-n // block_size) * block_size for n in seq_lens) if block_size else 0
    return {"contiguous": 1 - used / contiguous if contiguous else 0.0,
            "paged": 1 - used / paged if paged else 0.0}
