# expect-fail: server_disconnect_frees_blocks
"""abort() marks the request done but leaves it running: its blocks stay held until it finishes."""
def _abort(self, request_id):
    req = self.requests.get(request_id)
    if req is not None:
        req.aborted = True  # ... and nothing else


LLMEngine.abort = _abort
