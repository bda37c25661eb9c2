# expect-fail: seeded_sampling
"""Sampling from torch's global generator: a request's tokens depend on what else is in its batches."""
def _sample(self, req, logits):
    if req.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double().cpu() / req.temperature, dim=-1)
    return int(torch.multinomial(probs, 1))


LLMEngine._sample = _sample
