# expect-fail: disk_tier_survives_a_restart, disk_tier_never_returns_a_damaged_block
"""A new cache on an existing folder ignores the blocks already there."""


class _DiskStore(_DiskStore):
    def recover(self):
        return []
