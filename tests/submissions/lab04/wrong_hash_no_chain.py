# expect-fail: prefix_hashes_chain_every_earlier_block
"""Each block hashed on its own tokens only: equal blocks after different prefixes collide."""
import hashlib
import struct


def prefix_block_hashes(token_ids, block_size):
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    toks = list(token_ids)
    out = []
    for i in range(len(toks) // block_size):
        blk = toks[i * block_size:(i + 1) * block_size]
        out.append(int.from_bytes(hashlib.blake2b(struct.pack(f"<{block_size}q", *blk), digest_size=8).digest(), "little"))
    return out
