# expect-fail: merge_stats_two_halves, merge_stats_random_splits, online_softmax_matches_softmax, online_softmax_hard_inputs
"""merge_softmax_stats adds the sums without rescaling them to the common maximum."""


def merge_softmax_stats(m_a, l_a, m_b, l_b):
    return torch.maximum(m_a, m_b), l_a + l_b
