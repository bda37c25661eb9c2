# expect-fail: bubble_fraction_examples, bubble_fraction_edge_cases
"""Bubble fraction with m + p slots instead of m + p - 1."""


def pipeline_bubble_fraction(num_stages, num_microbatches):
    if num_stages < 1:
        raise ValueError("num_stages must be >= 1")
    if num_microbatches < 1:
        raise ValueError("num_microbatches must be >= 1")
    return (num_stages - 1) / (num_microbatches + num_stages)
