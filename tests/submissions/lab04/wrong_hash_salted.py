# expect-fail: prefix_hashes_are_the_same_in_another_process
"""A chained hash built on Python's hash() of a string: salted, so it differs in every process."""


def prefix_block_hashes(token_ids, block_size):
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    toks = list(token_ids)
    out, prev = [], 0
    for i in range(len(toks) // block_size):
        prev = hash(f"{prev}:{toks[i * block_size:(i + 1) * block_size]}")
        out.append(prev)
    return out
