# expect-fail: merge_attention_two_halves, merge_attention_random_splits
"""merge_attention weights each part by exp(lse_part - max) but forgets to divide by the total weight."""


def merge_attention(o_a, lse_a, o_b, lse_b):
    if o_b.shape != o_a.shape or lse_a.shape != o_a.shape[:-1] or lse_b.shape != o_a.shape[:-1]:
        raise ValueError("shapes of o_a, lse_a, o_b, lse_b do not match")
    m = torch.maximum(lse_a, lse_b)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)
    w_a, w_b = torch.exp(lse_a - m_safe)[..., None], torch.exp(lse_b - m_safe)[..., None]
    o = torch.where(w_a > 0, w_a * o_a.float(), 0.0) + torch.where(w_b > 0, w_b * o_b.float(), 0.0)
    return o.to(o_a.dtype), (m_safe + torch.log(w_a[..., 0] + w_b[..., 0])).float()
