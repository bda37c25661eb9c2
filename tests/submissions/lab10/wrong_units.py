# expect-fail: q01, q02, q06
"""Right numbers in the wrong units: the KV cache in GiB, times in seconds instead of microseconds."""
q01 = 2 * 30 * 48 * 64 * 6999 * 32 * 2 / 2**30
q02 = 22.648832e-6
q06 = 216.80064e-6
