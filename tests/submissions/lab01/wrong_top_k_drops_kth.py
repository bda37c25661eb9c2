# expect-fail: filter_top_k_and_top_p_small, top_k_exact_sets, top_k_ties, top_k_then_top_p, filter_rejects_bad_args, sample_follows_filtered_softmax, generate_sampling_uses_seed_and_filters
"""top-k removes every logit <= the k-th largest, so only k - 1 survive (none at k = 1)."""
import torch

_reference_filter = top_k_top_p_filter


def top_k_top_p_filter(logits, top_k=None, top_p=None):
    _reference_filter(logits, top_k=top_k, top_p=top_p)  # the reference's argument checks
    out = logits
    if top_k is not None and top_k <= logits.shape[-1]:
        kth = torch.topk(out, top_k, -1).values[..., -1:]
        out = out.masked_fill(out <= kth, float("-inf"))
    return _reference_filter(out.clone(), top_p=top_p)
