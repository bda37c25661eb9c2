# expect-fail: engine_refuses_bad_input, server_refuses_bad_requests
"""add_request checks the vocabulary and max_seq_len but not the pool: a request larger than every block
is queued, and waits forever."""
def _check(self, prompt_ids, max_new_tokens, pname="prompt_ids", mname="max_new_tokens"):
    prompt = list(prompt_ids.tolist() if isinstance(prompt_ids, torch.Tensor) else prompt_ids)
    vocab, max_len = self.model.config.vocab_size, self.model.config.max_seq_len
    if not prompt:
        raise ValueError(f"{pname} is empty")
    if any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab for t in prompt):
        raise ValueError(f"{pname} holds a value that is not a token id in [0, {vocab})")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"{mname} must be an int >= 1, got {max_new_tokens!r}")
    if len(prompt) + max_new_tokens > max_len:
        raise ValueError(f"{pname} + {mname} exceed max_seq_len={max_len}")
    return prompt


LLMEngine._check = _check
