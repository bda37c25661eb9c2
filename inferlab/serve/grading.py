"""lab08's trusted probes: run beside a submission (`sub.probe(f, ...)`), return plain data.

    run_engine(ns, sizes, jobs, max_calls)     build `LLMEngine(model, **sizes)` on a fresh course model and
                                               run jobs on it, counting forward passes and token positions
                                               with a wrapper on layer 0 the submission cannot reach
    exercise_server(ns, sizes, scenario, ...)  serve that engine with `inferlab.serve` on a loopback port
                                               and talk HTTP to it (streaming, concurrency, disconnects, refusals)

A job is a dict: {"op": "generate", "prompts", "max_new_tokens"} or {"op": "requests", "requests":
[(prompt_ids, max_new_tokens, {add_request keywords}), ...]} (all added, then `step()` until done,
tokens gathered from what `step()` reports) or {"op": "stats"}. Each job's answer carries its
outputs, the forward passes and positions counted during it, the engine's `stats()` after it,
or the error it raised. A run that exceeds `max_calls` forward passes is stopped (a scheduler
that deadlocks or spins).
"""
from __future__ import annotations

import time


class CallLimit(BaseException):
    """Too many forward passes: the run is stopped (BaseException: a bare `except Exception` keeps it)."""


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    try:
        return int(x) if float(x).is_integer() else float(x)
    except (TypeError, ValueError):
        return repr(x)[:200]


def _engine(ns, sizes):
    from inferlab.models import load

    cls = ns.get("LLMEngine")
    if cls is None:
        raise NameError("the submission does not define `LLMEngine`")
    model = load("target")
    return cls(model, **sizes), model


def _install_counter(model, count, max_calls):
    layer = model.layers[0]
    method = type(layer).qkv.__get__(layer)

    def qkv(x, positions, *a, **k):
        count["calls"] += 1
        count["positions"] += int(x.shape[0]) * int(x.shape[1])
        if count["calls"] > max_calls:
            raise CallLimit(f"more than {max_calls} forward passes")
        return method(x, positions, *a, **k)

    object.__setattr__(layer, "qkv", qkv)
    return qkv


def _install_step_counter(engine, count, max_calls):
    """Count `engine.step()` calls (an instance attribute: `self.step()` inside generate finds it) and stop
    a loop of steps that run nothing (a scheduler that waits for blocks nobody will give back)."""
    step = getattr(engine, "step", None)
    if not callable(step):
        return

    def counted_step(*a, **k):
        count["steps"] += 1
        if count["steps"] > 2 * max_calls + 200:
            raise CallLimit(f"{count['steps']} calls of step() for {count['calls']} forward passes")
        return step(*a, **k)

    try:
        object.__setattr__(engine, "step", counted_step)
    except (AttributeError, TypeError):
        pass


class _CpuLimit:
    """Stop the job after `seconds` of this process's CPU time (SIGPROF): a loop that never calls the model."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        import signal
        import threading

        self.on = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        if self.on:
            def stop(signum, frame):
                raise CallLimit(f"more than {self.seconds:g} s of CPU time")

            self.old = signal.signal(signal.SIGPROF, stop)
            signal.setitimer(signal.ITIMER_PROF, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.on:
            import signal

            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self.old)


def run_engine(ns, sizes: dict, jobs: list, max_calls: int = 2000, cpu_s: float = 30.0) -> list:
    """Run `jobs` on one engine; one answer per job (see the module docstring)."""
    count = {"calls": 0, "positions": 0, "steps": 0}
    try:
        engine, model = _engine(ns, sizes)
    except Exception as e:  # noqa: BLE001
        return [{"error": f"LLMEngine(model, **{sizes}) raised {type(e).__name__}: {e}"[:600]}]
    wrapper = _install_counter(model, count, max_calls)
    _install_step_counter(engine, count, max_calls)
    out = []
    for job in jobs:
        c0, p0 = count["calls"], count["positions"]
        ans: dict = {}
        try:
            with _CpuLimit(cpu_s):
                if job["op"] == "generate":
                    ans["tokens"] = _plain(engine.generate(job["prompts"], job["max_new_tokens"]))
                elif job["op"] == "requests":
                    ids = [engine.add_request(p, m, **kw) for p, m, kw in job["requests"]]
                    got = {i: [] for i in ids}
                    fins = {i: 0 for i in ids}
                    while engine.has_unfinished():
                        for rid, token, finished in engine.step():
                            if rid in got:
                                got[rid].append(int(token))
                                fins[rid] += bool(finished)
                    ans["tokens"] = [got[i] for i in ids]
                    ans["finished_flags"] = [fins[i] for i in ids]
                ans["stats"] = _plain(dict(engine.stats()))
        except CallLimit as e:
            ans["error"] = f"stopped: {e} (a request never finishing, or a scheduler that deadlocks)"
        except Exception as e:  # noqa: BLE001 - the submission's error is the answer
            ans["error"] = f"{type(e).__name__}: {e}"[:600]
        ans["calls"], ans["positions"] = count["calls"] - c0, count["positions"] - p0
        ans["tampered"] = model.layers[0].__dict__.get("qkv") is not wrapper
        out.append(ans)
        if "error" in ans and job.get("stop_on_error", True):
            break
    return out


# ----------------------------------------------------------------------------- over HTTP


def _sse_tokens(response) -> dict:
    """Token ids, text and finish reason of a streamed completion (one `data:` event per token)."""
    import json

    tokens, text, reason, events = [], "", None, 0
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        obj = json.loads(data)
        if "error" in obj:
            return {"error": obj["error"].get("message", "error"), "tokens": tokens}
        for ch in obj.get("choices", []):
            events += 1
            tokens += ch.get("token_ids", [])
            text += ch.get("text", "")
            reason = ch.get("finish_reason") or reason
    return {"tokens": tokens, "text": text, "finish_reason": reason, "events": events}


def _complete(client, url, prompt, max_tokens, stream, timeout):
    body = {"model": "inferlab-target", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "stream": stream}
    try:
        if stream:
            with client.stream("POST", url + "/v1/completions", json=body, timeout=timeout) as r:
                if r.status_code != 200:
                    r.read()
                    return {"status": r.status_code, "body": r.text[:400]}
                out = _sse_tokens(r)
                out["status"] = 200
                return out
        r = client.post(url + "/v1/completions", json=body, timeout=timeout)
        if r.status_code != 200:
            return {"status": r.status_code, "body": r.text[:400]}
        ch = r.json()["choices"][0]
        return {"status": 200, "tokens": ch.get("token_ids"), "text": ch.get("text"),
                "finish_reason": ch.get("finish_reason")}
    except Exception as e:  # noqa: BLE001 - a timeout or a broken connection is the answer
        return {"status": None, "error": f"{type(e).__name__}: {e}"[:300]}


def _wait_idle(loop, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = loop.snapshot()
        if snap["idle"] and not snap["live"]:
            return True
        time.sleep(0.02)
    return False


def exercise_server(ns, sizes: dict, scenario: str, prompts: list, max_tokens: list, timeout: float = 20.0) -> dict:
    """Serve the submission's engine over HTTP and run one scenario; plain answers for the grader.

    stream:     each prompt streamed, then asked without streaming: token ids of both
    concurrent: every prompt streamed by its own client thread, started 5 ms apart: tokens, the
                loop's step spans per request (first and last step with a token) and its largest batch
    disconnect: prompts[0] streamed with max_tokens[0], the client leaves after 3 tokens; the steps
                the engine ran after that, whether it went idle; then prompts[1] (sized to need the
                whole pool) asked without streaming
    refuse:     prompts are bad requests' bodies (dicts), sent in order; then prompts[-1] ... (see grader)
    """
    import threading

    import httpx

    from inferlab.serve import ServerThread
    from inferlab.serve.app import build_app
    from inferlab.serve.loop import EngineLoop

    try:
        engine, model = _engine(ns, sizes)
    except Exception as e:  # noqa: BLE001
        return {"error": f"LLMEngine(model, **{sizes}) raised {type(e).__name__}: {e}"[:600]}
    loop = EngineLoop(engine)
    app = build_app(engine, loop=loop, max_seq_len=model.config.max_seq_len)
    out: dict = {}
    with ServerThread(app) as srv, httpx.Client() as client:
        url = srv.url
        if scenario == "stream":
            out["stream"] = [_complete(client, url, p, m, True, timeout) for p, m in zip(prompts, max_tokens)]
            out["plain"] = [_complete(client, url, p, m, False, timeout) for p, m in zip(prompts, max_tokens)]
        elif scenario == "concurrent":
            results: list = [None] * len(prompts)

            def one(i):
                with httpx.Client() as c:
                    results[i] = _complete(c, url, prompts[i], max_tokens[i], True, timeout)

            threads = []
            for i in range(len(prompts)):
                t = threading.Thread(target=one, args=(i,))
                t.start()
                threads.append(t)
                time.sleep(0.005)
            for t in threads:
                t.join(timeout + 5)
            out["results"] = results
        elif scenario == "disconnect":
            body = {"model": "inferlab-target", "prompt": prompts[0], "max_tokens": max_tokens[0], "temperature": 0,
                    "stream": True}
            got = 0
            try:
                with client.stream("POST", url + "/v1/completions", json=body, timeout=timeout) as r:
                    out["status"] = r.status_code
                    for line in r.iter_lines():
                        if line.startswith("data: ") and '"token_ids": [' in line:
                            got += 1
                            if got >= 3:
                                break
            except Exception as e:  # noqa: BLE001
                out["error"] = f"{type(e).__name__}: {e}"[:300]
            out["tokens_read"] = got
            steps_at_leave = loop.snapshot()["counters"]["steps"]
            out["went_idle"] = _wait_idle(loop, 5.0)
            snap = loop.snapshot()
            out["steps_after_leaving"] = snap["counters"]["steps"] - steps_at_leave
            out["aborted"] = snap["counters"]["aborted"]
            out["after"] = _complete(client, url, prompts[1], max_tokens[1], False, timeout)
        elif scenario == "refuse":
            answers = []
            for body in prompts[:-1]:
                try:
                    r = client.post(url + "/v1/completions", json=body, timeout=timeout)
                    try:
                        js = r.json()
                    except ValueError:
                        js = None
                    answers.append({"status": r.status_code, "json": js})
                except Exception as e:  # noqa: BLE001
                    answers.append({"status": None, "error": f"{type(e).__name__}: {e}"[:300]})
            out["refused"] = answers
            out["after"] = _complete(client, url, prompts[-1], max_tokens[-1], False, timeout)
        else:
            raise ValueError(f"scenario must be stream, concurrent, disconnect or refuse, got {scenario!r}")
        snap = loop.snapshot()
        out["loop"] = {"counters": snap["counters"], "spans": list(snap["spans"].values())}
    return _plain(out)
