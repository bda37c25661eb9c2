# expect-fail: tiered_cache_walkthrough, tiered_cache_hand_traces_per_policy, tiered_cache_matches_the_model_on_random_operations, hit_counts_on_hidden_serving_traces_match_the_reference, disk_tier_survives_a_restart
"""bytes_written counts the bytes of put() into tier 0 only, not promotions or demotions."""


class TieredKVCache(TieredKVCache):
    def put(self, key, block):
        super().put(key, block)
        self._puts = getattr(self, "_puts", 0) + block.numel() * block.element_size()

    def stats(self):
        s = super().stats()
        s["bytes_written"] = {t.name: (getattr(self, "_puts", 0) if j == 0 else 0) for j, t in enumerate(self.tiers)}
        return s
