# expect-fail: seeded_sampling
"""Sampling from softmax(logits), the temperature forgotten (only 0 vs not 0 is looked at)."""
def _sample(self, req, logits):
    if req.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double().cpu(), dim=-1)
    return int(torch.multinomial(probs, 1, generator=req.generator))


LLMEngine._sample = _sample
