# expect-fail: flash_attention_stores_only_o_and_lse, flash_attention_kernel_made_outputs
"""The kernel runs (and stores o and lse), but the function returns torch's attention instead of its output."""


_kernel_flash_attention = flash_attention


def flash_attention(q, k, v, causal=False, sm_scale=None):
    o, lse = _kernel_flash_attention(q, k, v, causal=causal, sm_scale=sm_scale)
    scale = q.shape[-1] ** -0.5 if sm_scale is None else float(sm_scale)
    o_torch = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=causal,
                                                               scale=scale)
    return o_torch.to(q.dtype), lse
