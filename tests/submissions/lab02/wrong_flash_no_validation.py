# expect-fail: flash_attention_rejects_bad_inputs
"""flash_attention that trusts its inputs: unsupported D, causal with Nq != Nk, mismatched k/v run (or crash)."""


def _validate(q, k, v, causal, sm_scale):
    pass
