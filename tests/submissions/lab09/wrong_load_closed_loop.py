# expect-fail: load_test_records_scheduled_arrivals, load_test_open_loop_timing
"""Closed loop: each prompt is sent when it is due *and* the previous one has finished, and its
latency is measured from the moment it was sent (coordinated omission)."""


def load_test(server, clock, prompts, arrivals, max_new_tokens):
    start = clock.now()
    records = []
    for prompt, a in zip(prompts, arrivals):
        clock.sleep_until(start + a)
        rid = server.submit(prompt, max_new_tokens)
        rec = {"arrival": clock.now(), "token_times": [], "tokens": []}
        while server.has_work():
            for r, token in server.step():
                if r == rid:
                    rec["token_times"].append(clock.now())
                    rec["tokens"].append(int(token))
        records.append(rec)
    return records
