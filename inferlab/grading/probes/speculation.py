"""Speculative decoding's probes: many seeded sampler calls in one request, and two models counted.

    accept_draws(ns, target_probs, draft_probs, draft_seeds, accept_seeds)   speculative_accept, once per seed pair
    generate_draws(ns, target, draft, prompt, n_new, k, temperature, seeds)  speculative_generate, once per seed
    counted_pair(ns, name, target, draft, *args)   forward passes and positions of both models in one call

A statistical check needs thousands of calls; one request to the grader's child per call would
cost ~10 ms each, so the loop runs here, beside the submission, with the grader's seeds.
"""
from __future__ import annotations

import torch

from inferlab.grading.probes.integrity import tampered_names


def _fn(ns, name):
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"the submission does not define `{name}`")
    return fn


def accept_draws(ns, target_probs, draft_probs, draft_seeds, accept_seeds) -> list:
    """For each pair of seeds: draw the draft tokens from `draft_probs` (k, V) with the first seed,
    then call `speculative_accept(target_probs, draft_probs, tokens, generator=Generator(second seed))`.
    Returns `{"drafts": [tokens drawn], "outputs": [what each call returned]}`, in order."""
    fn = _fn(ns, "speculative_accept")
    out, drafts = [], []
    for ds, acs in zip(draft_seeds, accept_seeds):
        g = torch.Generator().manual_seed(int(ds))
        tokens = torch.multinomial(draft_probs, 1, generator=g).flatten() if draft_probs.shape[0] else \
            torch.zeros(0, dtype=torch.long)  # (k,): token i drawn from row i
        drafts.append(tokens.tolist())
        result = fn(target_probs.clone(), draft_probs.clone(), tokens, generator=torch.Generator().manual_seed(int(acs)))
        out.append([int(t) for t in result] if isinstance(result, (list, tuple, torch.Tensor)) else repr(result)[:200])
    return {"drafts": drafts, "outputs": out}


def generate_draws(ns, target, draft, prompt, n_new: int, k: int, temperature: float, seeds) -> list:
    """`speculative_generate(target, draft, prompt, n_new, k=k, temperature=temperature, seed=s)[0]` per seed."""
    fn = _fn(ns, "speculative_generate")
    out = []
    for s in seeds:
        result = fn(target, draft, list(prompt), n_new, k=k, temperature=temperature, seed=int(s))
        tokens = result[0] if isinstance(result, tuple) and len(result) == 2 else result
        out.append([int(t) for t in tokens] if isinstance(tokens, (list, tuple)) else repr(tokens)[:200])
    return out


def _wrap(model, log):
    layer = model.layers[0]
    method = type(layer).qkv.__get__(layer)

    def qkv(x, positions, *a, **k):
        log.append(int(x.shape[0]) * int(x.shape[1]))
        return method(x, positions, *a, **k)

    object.__setattr__(layer, "qkv", qkv)
    return qkv


def counted_pair(ns, name: str, target, draft, *args, **kwargs) -> dict:
    """Call `ns[name](target, draft, *args)`; for each model the positions of every forward pass
    through layer 0's `qkv` (a wrapper the submission cannot reach) and its own `tokens_processed` delta."""
    fn = _fn(ns, name)
    before = tampered_names()
    logs = {"target": [], "draft": []}
    own = {"target": int(target.tokens_processed), "draft": int(draft.tokens_processed)}
    wrappers = {}
    try:
        wrappers["target"] = _wrap(target, logs["target"])
        wrappers["draft"] = _wrap(draft, logs["draft"])
        result = fn(target, draft, *args, **kwargs)
        intact = all(m.layers[0].__dict__.get("qkv") is wrappers[k] for k, m in (("target", target), ("draft", draft)))
    finally:
        target.layers[0].__dict__.pop("qkv", None)
        draft.layers[0].__dict__.pop("qkv", None)
    return {"result": result, "passes": logs,
            "own_tokens": {"target": int(target.tokens_processed) - own["target"],
                           "draft": int(draft.tokens_processed) - own["draft"]},
            "tampered": bool(before or tampered_names() or not intact)}
