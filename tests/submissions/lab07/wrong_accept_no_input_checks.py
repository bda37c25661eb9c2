# expect-fail: accept_rejects_bad_input
"""No argument checks: mismatched shapes and out-of-range tokens give an answer or an IndexError."""
import torch


def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    p, q = target_probs.double(), draft_probs.double()
    out = []
    for i, x in enumerate(int(t) for t in draft_tokens[:q.shape[0]]):
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        if q[i, x % q.shape[1]] <= p[i, x % p.shape[1]] or u * q[i, x % q.shape[1]] < p[i, x % p.shape[1]]:
            out.append(x)
            continue
        residual = (p[i, :q.shape[1]] - q[i]).clamp(min=0)
        out.append(int(torch.multinomial(residual / residual.sum(), 1, generator=generator)))
        return out
    out.append(int(torch.multinomial(p[min(len(out), p.shape[0] - 1)], 1, generator=generator)))
    return out
