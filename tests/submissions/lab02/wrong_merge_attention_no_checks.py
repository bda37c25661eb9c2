# expect-fail: merge_attention_rejects_mismatched_shapes
"""merge_attention without input checks: mismatched shapes broadcast silently (or fail with a torch error)."""


def merge_attention(o_a, lse_a, o_b, lse_b):
    m = torch.maximum(lse_a, lse_b)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)
    w_a, w_b = torch.exp(lse_a - m_safe), torch.exp(lse_b - m_safe)
    total = w_a + w_b
    denom = torch.where(total > 0, total, torch.ones_like(total))
    w_a, w_b = (w_a / denom)[..., None], (w_b / denom)[..., None]
    o = torch.where(w_a > 0, w_a * o_a.float(), 0.0) + torch.where(w_b > 0, w_b * o_b.float(), 0.0)
    return o.to(o_a.dtype), (m_safe + torch.log(total)).float()
