# expect-fail: disk_tier_handles_a_vanished_or_wrong_folder
"""Reading a block whose file vanished raises FileNotFoundError instead of being a miss."""


class _DiskStore(_DiskStore):
    def read(self, key):
        with open(self.file_of(key), "rb") as f:
            parsed = self.parse(f.read())
        if parsed is None or parsed[0] != _key_bytes(key):
            return None
        return parsed[1]
