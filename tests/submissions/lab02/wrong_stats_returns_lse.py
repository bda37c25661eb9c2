# expect-fail: softmax_stats_basic, softmax_stats_extreme_rows, online_softmax_matches_softmax, online_softmax_hard_inputs
"""softmax_stats returns the log-sum-exp m + log(l) in place of the sum l."""


def softmax_stats(x):
    x = x.to(_stats_dtype(x.dtype))
    m = x.amax(dim=-1)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)
    return m, m_safe + torch.log(torch.exp(x - m_safe[..., None]).sum(dim=-1))
