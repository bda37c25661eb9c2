# expect-fail: merge_stats_random_splits, online_softmax_hard_inputs
"""merge_softmax_stats ignores -inf parts: two empty parts give exp(-inf - (-inf)) = NaN."""


def merge_softmax_stats(m_a, l_a, m_b, l_b):
    m = torch.maximum(m_a, m_b)
    return m, l_a * torch.exp(m_a - m) + l_b * torch.exp(m_b - m)
