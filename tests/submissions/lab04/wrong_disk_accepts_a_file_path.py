# expect-fail: disk_tier_handles_a_vanished_or_wrong_folder
"""A disk tier whose path is a regular file is accepted; every write then fails and is dropped quietly."""


class Tier(Tier):
    def __init__(self, name, capacity, device=None, path=None):
        if path is not None and os.path.isfile(path):
            self.name, self.capacity, self.device, self.path = name, capacity, None, os.path.abspath(path)
            return
        super().__init__(name, capacity, device, path)
