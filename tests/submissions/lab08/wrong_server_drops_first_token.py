# expect-fail: stop_tokens_and_lengths, server_streams_the_generated_tokens, server_batches_concurrent_clients, server_disconnect_frees_blocks, server_refuses_bad_requests
"""step() forgets to report the token made by the step that completes a prompt: generate() is right (it reads
the request's tokens), but a server that streams what step() reports drops each request's first token."""
_right_step = LLMEngine.step


def _step(self):
    starting = {req.id for req in self.running if req.prefilling} | {req.id for req in self.waiting}
    return [(rid, tok, fin) for rid, tok, fin in _right_step(self) if rid not in starting or fin]


LLMEngine.step = _step
