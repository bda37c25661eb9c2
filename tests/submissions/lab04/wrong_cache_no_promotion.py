# expect-fail: tiered_cache_walkthrough, tiered_cache_hand_traces_per_policy, tiered_cache_matches_the_model_on_random_operations, hit_counts_on_hidden_serving_traces_match_the_reference, disk_tier_survives_a_restart
"""A hit in a lower tier is served from there and left there (an access), never promoted to tier 0."""


class TieredKVCache(TieredKVCache):
    def get(self, key):
        i = self._where.get(key)
        if i is None or i == 0:
            return super().get(key)
        block = self._stores[i].read(key)
        if block is None:
            return super().get(key)
        self._policies[i].access(key)
        self._hits[self.tiers[i].name] += 1
        return block.to(self.tiers[0].device or "cpu")
