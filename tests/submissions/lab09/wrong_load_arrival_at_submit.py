# expect-fail: load_test_records_scheduled_arrivals
"""Open loop, but each record's arrival is the time the generator got round to submitting it."""
_reference_load_test = load_test


def load_test(server, clock, prompts, arrivals, max_new_tokens):
    records = _reference_load_test(server, clock, prompts, arrivals, max_new_tokens)
    submits = [e["time"] for e in server.log if e["op"] == "submit"]
    for rec, t in zip(records, submits):
        rec["arrival"] = t
    return records
