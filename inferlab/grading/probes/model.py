"""The course model's counters: token positions a generation sends through the model."""
from __future__ import annotations

from inferlab.grading.probes.integrity import tampered_names


def counted_call(ns, name: str, model, *args, **kwargs) -> dict:
    """Call `ns[name](model, *args)` and count the token positions it sends through
    layer 0's `qkv`, with a wrapper whose counter the submission cannot reach; also
    report the model's own `tokens_processed` delta. A fair implementation shows the
    same number both ways."""
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"the submission does not define `{name}`")
    layer = model.layers[0]
    method = type(layer).qkv.__get__(layer)
    count = [0]

    def qkv(x, positions, *a, **k):
        count[0] += int(x.shape[0]) * int(x.shape[1])
        return method(x, positions, *a, **k)

    before = tampered_names()
    own_before = int(model.tokens_processed)
    object.__setattr__(layer, "qkv", qkv)
    try:
        result = fn(model, *args, **kwargs)
        intact = layer.__dict__.get("qkv") is qkv
    finally:
        layer.__dict__.pop("qkv", None)
    return {"result": result, "tokens": count[0], "own_tokens": int(model.tokens_processed) - own_before,
            "tampered": bool(before or tampered_names() or not intact)}
