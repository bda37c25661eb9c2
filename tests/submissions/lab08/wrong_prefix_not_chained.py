# expect-fail: prefix_hits_only_on_equal_prefixes
"""Block hashes of the block's own tokens only (not chained): equal blocks after different prefixes are shared."""
def prefix_hashes(token_ids, block_size):
    return [hashlib.sha256(struct.pack(f"<{block_size}q", *token_ids[i * block_size:(i + 1) * block_size])).hexdigest()
            for i in range(len(token_ids) // block_size)]
