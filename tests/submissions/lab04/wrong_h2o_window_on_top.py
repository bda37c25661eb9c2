# expect-fail: h2o_keeps_recent_and_heavy_hitters, h2o_ties_and_edge_budgets
"""The recent window is kept on top of `budget` heavy hitters (budget + recent in all)."""


def h2o_keep_indices(scores, budget, recent):
    scores = torch.as_tensor(scores)
    if scores.dim() != 1:
        raise ValueError("scores must be 1-D")
    if budget < 0 or recent < 0:
        raise ValueError(f"budget and recent must be >= 0, got budget={budget}, recent={recent}")
    n = scores.shape[0]
    if n <= budget:
        return torch.arange(n)
    w = min(recent, n)
    older = sorted(range(n - w), key=lambda i: (-float(scores[i]), i))[:budget]
    return torch.tensor(sorted(older + list(range(n - w, n))), dtype=torch.long)
