# expect-fail: tiered_cache_walkthrough, tiered_cache_hand_traces_per_policy, tiered_cache_matches_the_model_on_random_operations, hit_counts_on_hidden_serving_traces_match_the_reference, disk_tier_survives_a_restart, disk_tier_never_returns_a_damaged_block
"""A full tier drops its victim instead of demoting it one tier down."""


class TieredKVCache(TieredKVCache):
    def _enter(self, i, key, block):
        if i == len(self.tiers):
            return
        policy = self._policies[i]
        if len(policy) >= self.tiers[i].capacity:
            victim = policy.evict()
            del self._where[victim]
            self._stores[i].delete(victim)  # gone: never reaches the tier below
        if self._stores[i].write(key, block):
            policy.insert(key)
            self._where[key] = i
            self._written[self.tiers[i].name] += block.numel() * block.element_size()
