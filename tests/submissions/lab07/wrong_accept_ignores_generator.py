# expect-fail: accept_reproducible_with_generator
"""Draws from torch's global generator: right in distribution, but the same seed does not give the same tokens."""
_reference_accept = speculative_accept


def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    return _reference_accept(target_probs, draft_probs, draft_tokens)
