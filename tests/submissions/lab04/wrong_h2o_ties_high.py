# expect-fail: h2o_ties_and_edge_budgets
"""Ties among equal scores go to the higher (later) position."""


def h2o_keep_indices(scores, budget, recent):
    scores = torch.as_tensor(scores)
    if scores.dim() != 1:
        raise ValueError("scores must be 1-D")
    if budget < 0 or recent < 0:
        raise ValueError(f"budget and recent must be >= 0, got budget={budget}, recent={recent}")
    n = scores.shape[0]
    if n <= budget:
        return torch.arange(n)
    w = min(recent, budget)
    older = sorted(range(n - w), key=lambda i: (-float(scores[i]), -i))[: budget - w]
    return torch.tensor(sorted(older + list(range(n - w, n))), dtype=torch.long)
