# expect-fail: accept_certain_cases, accept_distribution_is_exact
"""Samples the replacement by inverting the cumulative sum of max(0, p_i - q_i) without dividing by its
total (1 - beta): a uniform draw beyond the total falls through to the last token."""
import torch


def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    p, q, tokens = _check_accept_args(target_probs, draft_probs, draft_tokens)
    out = []
    for i, x in enumerate(tokens):
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        if u < min(1.0, float(p[i, x] / q[i, x])):
            out.append(x)
            continue
        residual = (p[i] - q[i]).clamp(min=0)
        v = float(torch.rand((), generator=generator, dtype=torch.float64))
        idx = int(torch.searchsorted(torch.cumsum(residual, 0), torch.tensor([v], dtype=torch.float64), right=True))
        out.append(min(idx, residual.numel() - 1))
        return out
    out.append(int(torch.multinomial(p[len(out)], 1, generator=generator)))
    return out
