# expect-fail: load_test_open_loop_timing
"""When the server is idle it sleeps a fixed 5 ms and looks again, so requests wait for the next poll."""


def load_test(server, clock, prompts, arrivals, max_new_tokens):
    start = clock.now()
    records = [{"arrival": start + a, "token_times": [], "tokens": []} for a in arrivals]
    owner, sent = {}, 0
    while sent < len(prompts) or server.has_work():
        while sent < len(prompts) and records[sent]["arrival"] <= clock.now():
            owner[server.submit(prompts[sent], max_new_tokens)] = sent
            sent += 1
        if server.has_work():
            for rid, token in server.step():
                records[owner[rid]]["token_times"].append(clock.now())
                records[owner[rid]]["tokens"].append(int(token))
        else:
            clock.sleep(0.005)
    return records
