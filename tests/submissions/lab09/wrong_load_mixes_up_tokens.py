# expect-fail: load_test_records
"""Assumes server request ids come back in the order tokens are wanted: gives each record the tokens in step order."""
_reference_load_test = load_test


def load_test(server, clock, prompts, arrivals, max_new_tokens):
    records = _reference_load_test(server, clock, prompts, arrivals, max_new_tokens)
    flat = [t for r in records for t in r["tokens"]]
    flat = flat[1:] + flat[:1]
    for r in records:
        r["tokens"], flat = flat[:len(r["tokens"])], flat[len(r["tokens"]):]
    return records
