# expect-fail: longest_prefix_hit_stops_at_the_first_missing_block
"""Counts every cached block of the prompt, not only the leading run."""


def longest_prefix_hit(cache, token_ids, block_size):
    return sum(cache.tier_of(h) is not None for h in prefix_block_hashes(token_ids, block_size))
