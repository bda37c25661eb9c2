# expect-fail: expected_tokens_values, expected_tokens_random_and_edges, expected_tokens_rejects_bad_input
"""Counts the accepted drafts only, (1 - alpha^k) / (1 - alpha), forgetting the token every round adds."""


def expected_accepted_tokens(alpha, k):
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k}")
    if alpha == 1:
        return float(k)
    return (1 - alpha ** k) / (1 - alpha)
