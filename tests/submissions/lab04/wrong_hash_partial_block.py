# expect-fail: prefix_hashes_one_per_full_block_and_repeatable, prefix_hashes_chain_every_earlier_block
"""A chained hash that also hashes the partial last block."""
import hashlib


def prefix_block_hashes(token_ids, block_size):
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    toks = list(token_ids)
    out, prev = [], b""
    for i in range(0, len(toks), block_size):
        prev = hashlib.sha256(prev + repr(toks[i:i + block_size]).encode()).digest()
        out.append(int.from_bytes(prev[:8], "little"))
    return out
