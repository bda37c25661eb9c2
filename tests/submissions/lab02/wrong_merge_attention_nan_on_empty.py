# expect-fail: merge_attention_random_splits, merge_attention_rejects_mismatched_shapes
"""merge_attention uses the formula as written (no shape checks either): an empty part (lse = -inf) gives NaN."""


def merge_attention(o_a, lse_a, o_b, lse_b):
    lse = torch.logaddexp(lse_a, lse_b)
    o = torch.exp(lse_a - lse)[..., None] * o_a.float() + torch.exp(lse_b - lse)[..., None] * o_b.float()
    return o.to(o_a.dtype), lse
