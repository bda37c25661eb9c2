# expect-fail: causal_mask_rejects_bad_sizes, attention_rejects_bad_input, filter_rejects_bad_args, sample_rejects_bad_temperature, generate_rejects_bad_input, formulas_reject_bad_input
"""Every function computes the right answer on good input but never checks its arguments."""
import torch


def causal_mask(n_q, n_k, device=None):
    i = torch.arange(n_q, device=device)[:, None]
    j = torch.arange(n_k, device=device)[None, :]
    return j <= i + (n_k - n_q)


def attention(q, k, v, mask=None, sm_scale=None):
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    s = (q.float() @ k.float().transpose(-1, -2)) * scale
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    m = s.amax(-1, keepdim=True)
    p = torch.exp(s - torch.where(torch.isfinite(m), m, torch.zeros_like(m)))
    l = p.sum(-1, keepdim=True)
    return (p / torch.where(l > 0, l, torch.ones_like(l)) @ v.float()).to(q.dtype)


def top_k_top_p_filter(logits, top_k=None, top_p=None):
    out = logits.clone()
    if top_k is not None and top_k < out.shape[-1]:
        out = out.masked_fill(out < torch.topk(out, top_k, -1).values[..., -1:], float("-inf"))
    if top_p is not None and top_p < 1:
        sp, order = torch.sort(torch.softmax(out.float(), -1), -1, descending=True)
        drop = torch.cumsum(sp, -1) - sp >= top_p
        drop[..., 0] = False
        out = out.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
    return out


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    if temperature <= 0:
        return torch.argmax(logits, dim=-1)
    probs = torch.softmax(top_k_top_p_filter(logits.float() / temperature, top_k, top_p), -1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(logits.shape[:-1])


@torch.no_grad()
def generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0, top_k=None, top_p=None,
             seed=None):
    seq = [int(t) for t in (prompt_ids.tolist() if isinstance(prompt_ids, torch.Tensor) else prompt_ids)]
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    cache = [None] * model.config.num_layers
    new, fed = [], 0
    for _ in range(max_new_tokens):
        start = fed if use_cache else 0
        if not use_cache:
            cache = [None] * model.config.num_layers
        ids = torch.tensor([seq[start:]], dtype=torch.long)
        T = ids.shape[1]
        x = model.embed(ids)
        for i, layer in enumerate(model.layers):
            q, k, v = layer.qkv(x, torch.arange(start, start + T))
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            g = q.shape[1] // k.shape[1]
            mask = causal_mask(T, k.shape[2]) if T > 1 else None
            x = layer.finish(x, attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), mask=mask))
        fed = len(seq)
        token = int(sample_next(model.logits(x)[0, -1], temperature, top_k, top_p, generator=generator))
        new.append(token)
        seq.append(token)
    return new


def kv_cache_bytes(num_layers, num_kv_heads, head_dim, seq_len, batch_size=1, dtype_bytes=2):
    return 2 * num_layers * num_kv_heads * head_dim * seq_len * batch_size * dtype_bytes


def matmul_cost(m, n, k, dtype_bytes=2):
    return 2 * m * n * k, (m * k + k * n + m * n) * dtype_bytes


def roofline_time(flops, bytes, peak_flops, peak_bandwidth):
    return max(flops / peak_flops, bytes / peak_bandwidth)


def is_memory_bound(flops, bytes, peak_flops, peak_bandwidth):
    return bytes / peak_bandwidth > flops / peak_flops
