# expect-fail: tiered_cache_walkthrough, tiered_cache_hand_traces_per_policy, tiered_cache_matches_the_model_on_random_operations
"""put() of a cached key overwrites the block where it is instead of entering tier 0 as new."""


class TieredKVCache(TieredKVCache):
    def put(self, key, block):
        i = self._where.get(key)
        if i is None:
            return super().put(key, block)
        self._stores[i].write(key, block)
        self._written[self.tiers[i].name] += block.numel() * block.element_size()
