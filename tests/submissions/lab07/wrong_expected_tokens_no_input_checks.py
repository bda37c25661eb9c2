# expect-fail: expected_tokens_rejects_bad_input
"""The formula without argument checks: alpha = 1.5 or k = -1 give a number."""


def expected_accepted_tokens(alpha, k):
    if alpha == 1:
        return float(k + 1)
    return (1 - alpha ** (k + 1)) / (1 - alpha)
