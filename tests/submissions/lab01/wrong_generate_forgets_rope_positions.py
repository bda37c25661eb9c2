# expect-fail: generate_greedy_small, generate_greedy_matches_reference, generate_prompt_of_length_one, generate_cache_counts_small, generate_processes_each_token_once
"""With the cache, every decode token is rotated at position 0 (positions restart at each call)."""
import torch


@torch.no_grad()
def generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0, top_k=None, top_p=None,
             seed=None):
    seq = [int(t) for t in (prompt_ids.tolist() if isinstance(prompt_ids, torch.Tensor) else prompt_ids)]
    if not seq:
        raise ValueError("prompt_ids must hold at least one token")
    if max_new_tokens < 0 or len(seq) + max_new_tokens > model.config.max_seq_len:
        raise ValueError(f"bad max_new_tokens={max_new_tokens}")
    if min(seq) < 0 or max(seq) >= model.config.vocab_size:
        raise ValueError("prompt_ids out of range")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    cache = [None] * model.config.num_layers
    new, fed = [], 0
    for _ in range(max_new_tokens):
        if use_cache:
            ids = torch.tensor([seq[fed:]])
        else:
            ids = torch.tensor([seq])
            cache = [None] * model.config.num_layers
        T = ids.shape[1]
        positions = torch.arange(T)  # BUG: should start at the number of cached positions
        x = model.embed(ids)
        for i, layer in enumerate(model.layers):
            q, k, v = layer.qkv(x, positions)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
            g = q.shape[1] // k.shape[1]
            mask = causal_mask(T, k.shape[2]) if T > 1 else None
            x = layer.finish(x, attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), mask=mask))
        fed = len(seq)
        token = int(sample_next(model.logits(x)[0, -1], temperature, top_k, top_p, generator=generator))
        new.append(token)
        seq.append(token)
    return new
