# expect-fail: matmul_cost_hand_cases
"""matmul_cost counts the bytes read (A and B) but forgets writing the output C."""


def matmul_cost(m, n, k, dtype_bytes=2):
    if min(m, n, k) < 1:
        raise ValueError(f"m, n, k must be >= 1, got m={m}, n={n}, k={k}")
    return 2 * m * n * k, (m * k + k * n) * dtype_bytes
