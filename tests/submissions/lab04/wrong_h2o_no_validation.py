# expect-fail: h2o_rejects_bad_input
"""No checks: a negative budget or recent, or 2-D scores, give some answer or an unrelated error."""


def h2o_keep_indices(scores, budget, recent):
    scores = torch.as_tensor(scores).reshape(-1)
    n = scores.shape[0]
    if n <= budget:
        return torch.arange(n)
    w = max(0, min(recent, budget))
    order = torch.sort(scores[: n - w], descending=True, stable=True).indices[: max(0, budget - w)]
    return torch.sort(torch.cat([order, torch.arange(n - w, n)])).values
