# expect-fail: accept_certain_cases, accept_distribution_is_exact, generate_one_target_pass_per_round
"""When all k drafts are accepted, returns them without the bonus token from target_probs[k]."""
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
        out.append(int(torch.multinomial(residual / residual.sum(), 1, generator=generator)))
        return out
    if not tokens:  # k = 0: one token, as it must
        out.append(int(torch.multinomial(p[0], 1, generator=generator)))
    return out
