# expect-fail: disk_tier_never_returns_a_damaged_block
"""The disk tier reads its header and data back without verifying the checksum."""


class _DiskStore(_DiskStore):
    def parse(self, data):
        if len(data) < len(_MAGIC) + 4 + 32:
            return None
        body = data[:-32]
        (n,) = struct.unpack_from("<I", body, len(_MAGIC))
        start = len(_MAGIC) + 4
        try:
            key_s, dtype_s, shape = ast.literal_eval(body[start:start + n].decode())
            t = torch.frombuffer(bytearray(body[start + n:]), dtype=torch.uint8).view(_DTYPES[dtype_s]).reshape(shape)
        except Exception:
            return None
        return key_s.encode(), t
