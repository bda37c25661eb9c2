# expect-fail: disaggregated_refuses_bad_input
"""num_decode=0 is not refused up front: the run starts with no decode worker and fails later."""
_reference_check_run_args = _check_run_args  # noqa: F821 - defined by the reference cells


def _check_run_args(prompts, max_new_tokens, num_prefill, num_decode, *rest):
    return _reference_check_run_args(prompts, max_new_tokens, num_prefill, max(num_decode, 1), *rest)
