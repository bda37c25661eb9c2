# expect-fail: q04, q07, q10
"""Classic slips: blocks by floor instead of ceil, the bubble over m + p, the reserve forgotten."""
import math

q04 = sum(n // 32 for n in [1630, 971, 370, 102, 1786])
q07 = (11 - 1) / (63 + 11)
q10 = 107 + 10
