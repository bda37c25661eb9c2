# expect-fail: accept_distribution_is_exact
"""Accepts a draft token exactly when p(x) >= q(x), never otherwise: the min(1, p/q) coin is dropped."""
import torch


def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    p, q, tokens = _check_accept_args(target_probs, draft_probs, draft_tokens)
    out = []
    for i, x in enumerate(tokens):
        if p[i, x] >= q[i, x]:
            out.append(x)
            continue
        residual = (p[i] - q[i]).clamp(min=0)
        out.append(int(torch.multinomial(residual / residual.sum(), 1, generator=generator)))
        return out
    out.append(int(torch.multinomial(p[len(out)], 1, generator=generator)))
    return out
