# expect-fail: longest_prefix_hit_counts_cached_blocks, longest_prefix_hit_stops_at_the_first_missing_block
"""Returns the number of cached *tokens* (blocks x block_size) instead of blocks."""
_reference_longest_prefix_hit = longest_prefix_hit


def longest_prefix_hit(cache, token_ids, block_size):
    return _reference_longest_prefix_hit(cache, token_ids, block_size) * block_size
