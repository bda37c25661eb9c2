# expect-fail: accept_distribution_is_exact
"""At the first rejection the replacement is drawn from the target's p_i instead of the residual
normalize(max(0, p_i - q_i)): tokens the draft over-proposes are counted twice."""
import torch


def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    p, q, tokens = _check_accept_args(target_probs, draft_probs, draft_tokens)
    out = []
    for i, x in enumerate(tokens):
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        if u < min(1.0, float(p[i, x] / q[i, x])):
            out.append(x)
            continue
        out.append(int(torch.multinomial(p[i], 1, generator=generator)))
        return out
    out.append(int(torch.multinomial(p[len(out)], 1, generator=generator)))
    return out
