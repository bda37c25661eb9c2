# expect-fail: merge_attention_random_splits
"""merge_attention uses the formula as written: an empty part (lse = -inf) gives NaN or lets its garbage o in."""


def merge_attention(o_a, lse_a, o_b, lse_b):
    lse = torch.logaddexp(lse_a, lse_b)
    o = torch.exp(lse_a - lse)[..., None] * o_a.float() + torch.exp(lse_b - lse)[..., None] * o_b.float()
    return o.to(o_a.dtype), lse
