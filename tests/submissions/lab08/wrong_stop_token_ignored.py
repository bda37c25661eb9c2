# expect-fail: stop_tokens_and_lengths
"""stop_token_ids accepted and ignored: a request runs to max_new_tokens."""
_right_add = LLMEngine.add_request


def _add(self, prompt_ids, max_new_tokens, *, temperature=0.0, seed=None, stop_token_ids=()):
    return _right_add(self, prompt_ids, max_new_tokens, temperature=temperature, seed=seed)


LLMEngine.add_request = _add
