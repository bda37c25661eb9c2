"""`inferlab serve`: the OpenAI-compatible endpoint over the course engine, on a real uvicorn server,
driven by the official `openai` client and by raw HTTP (malformed requests, concurrency, disconnects)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from inferlab.models import encode, greedy_reference, load
from inferlab.serve import ServerThread, load_engine
from inferlab.serve.app import build_app
from inferlab.serve.reference import ReferenceEngine

MODEL = "inferlab-target"


@pytest.fixture(scope="module")
def model():
    return load("target")


@pytest.fixture(scope="module")
def server(model):
    engine = ReferenceEngine(model, num_blocks=40, block_size=8, max_num_seqs=4, max_num_batched_tokens=48)
    app = build_app(engine, max_seq_len=model.config.max_seq_len)
    with ServerThread(app) as srv:
        srv.engine, srv.loop = engine, app.state.loop
        yield srv


def _client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=60)


def _wait_idle(loop, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = loop.snapshot()
        if snap["idle"] and not snap["live"]:
            return snap
        time.sleep(0.02)
    raise AssertionError(f"the engine loop did not go idle: {loop.snapshot()}")


def test_openai_client_completions_chat_and_streaming(server, model):
    client = _client(server)
    assert [m.id for m in client.models.list()] == [MODEL]
    ids = encode("The KV cache")
    want = greedy_reference(model, ids, 12)
    r = client.completions.create(model=MODEL, prompt="The KV cache", max_tokens=12, temperature=0)
    assert r.choices[0].model_extra["token_ids"] == want
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == len(ids) and r.usage.completion_tokens == 12
    text = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt="The KV cache", max_tokens=12, temperature=0, stream=True) if c.choices)
    assert text == r.choices[0].text
    # token ids as the prompt (OpenAI's array-of-integers form)
    r2 = client.completions.create(model=MODEL, prompt=ids, max_tokens=12, temperature=0)
    assert r2.choices[0].text == r.choices[0].text
    messages = [{"role": "system", "content": "You tell short stories."},
                {"role": "user", "content": "Tell me a bedtime story."}]
    chat = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=20, temperature=0)
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=20, temperature=0, stream=True) if c.choices)
    assert chat.choices[0].message.role == "assistant"
    assert streamed == chat.choices[0].message.content and len(chat.choices[0].model_extra["token_ids"]) == 20
    # seeded sampling is reproducible through the API
    a, b = (client.completions.create(model=MODEL, prompt="Once", max_tokens=10, temperature=1.0, seed=7)
            for _ in range(2))
    assert a.choices[0].text == b.choices[0].text


def test_stop_strings_and_stop_token_ids(server, model):
    client = _client(server)
    full = client.completions.create(model=MODEL, prompt="The KV cache", max_tokens=12, temperature=0).choices[0]
    word = full.text.split()[2]
    r = client.completions.create(model=MODEL, prompt="The KV cache", max_tokens=12, temperature=0, stop=[word])
    assert r.choices[0].finish_reason == "stop" and r.choices[0].text == full.text[:full.text.index(word)]
    stop_id = full.model_extra["token_ids"][4]
    r = client.completions.create(model=MODEL, prompt="The KV cache", max_tokens=12, temperature=0,
                                  extra_body={"stop_token_ids": [stop_id]})
    assert r.choices[0].model_extra["token_ids"][-1] == stop_id and r.choices[0].finish_reason == "stop"
    _wait_idle(server.loop)
    assert server.engine.stats()["blocks_used"] == 0  # the request cut by the stop string was aborted


def test_malformed_requests_get_a_4xx_json_error_and_the_server_keeps_serving(server, model):
    url = server.url
    cases = [
        (dict(content=b"{not json"), 400, None),
        (dict(json=[1, 2]), 400, None),
        (dict(json={"model": MODEL}), 400, "prompt"),
        (dict(json={"model": MODEL, "prompt": "hi", "max_tokens": 0}), 400, "max_tokens"),
        (dict(json={"model": MODEL, "prompt": "hi", "max_tokens": "5"}), 400, "max_tokens"),
        (dict(json={"model": MODEL, "prompt": "hi", "temperature": -1}), 400, "temperature"),
        (dict(json={"model": MODEL, "prompt": "hi", "n": 3}), 400, "n"),
        (dict(json={"model": MODEL, "prompt": [1, 2, 512]}), 400, "prompt"),  # outside the vocabulary
        (dict(json={"model": MODEL, "prompt": list(range(300)), "max_tokens": 100}), 400, "prompt"),  # never fits
        (dict(json={"model": MODEL, "prompt": "hi", "stream": "yes"}), 400, "stream"),
        (dict(json={"model": "gpt-4", "prompt": "hi"}), 404, "model"),
    ]
    for kwargs, status, param in cases:
        r = httpx.post(url + "/v1/completions", timeout=30, **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        err = r.json()["error"]
        assert err["message"] and err["type"] == "invalid_request_error"
        if param:
            assert err["param"] == param, (kwargs, err)
    r = httpx.post(url + "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "robot"}]}, timeout=30)
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    r = httpx.get(url + "/v1/nothing-here", timeout=30)
    assert r.status_code == 404 and "error" in r.json()
    with pytest.raises(openai.BadRequestError):
        _client(server).completions.create(model=MODEL, prompt="hi", max_tokens=-1)
    r = _client(server).completions.create(model=MODEL, prompt="The KV cache", max_tokens=5, temperature=0)
    assert r.choices[0].model_extra["token_ids"] == greedy_reference(model, encode("The KV cache"), 5)
    assert server.loop.snapshot()["counters"]["engine_errors"] == 0


def test_concurrent_clients_join_the_running_batch(server, model):
    prompts = [encode(t) for t in ("The scheduler", "A block table", "Prefix caching", "Speculative decoding",
                                   "PagedAttention", "The draft model")]
    results = [None] * len(prompts)
    before = server.loop.snapshot()["counters"]["max_batch"]

    def one(i):
        results[i] = _client(server).completions.create(model=MODEL, prompt=prompts[i], max_tokens=14,
                                                        temperature=0, stream=False)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join(120)
    for p, r in zip(prompts, results):
        assert r.choices[0].model_extra["token_ids"] == greedy_reference(model, p, 14)
    snap = server.loop.snapshot()
    assert max(before, snap["counters"]["max_batch"]) >= 2
    spans = list(snap["spans"].values())
    assert any(a[0] < b[0] <= a[1] for a in spans for b in spans), "no request joined a running batch"


def test_a_client_that_disconnects_is_aborted_and_frees_its_blocks(server):
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 200, "temperature": 0, "stream": True}
    aborted = server.loop.snapshot()["counters"]["aborted"]
    with httpx.Client() as client, client.stream("POST", server.url + "/v1/completions", json=body, timeout=60) as r:
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen += 1
                if seen == 3:
                    break
    snap = _wait_idle(server.loop)
    assert snap["counters"]["aborted"] == aborted + 1
    assert server.engine.stats()["blocks_used"] == 0
    # the whole pool is free again: a request needing every block is served
    r = httpx.post(server.url + "/v1/completions", timeout=60,
                   json={"model": MODEL, "prompt": list(range(1, 316)), "max_tokens": 4, "temperature": 0})
    assert r.status_code == 200 and len(r.json()["choices"][0]["token_ids"]) == 4


def test_load_engine_from_a_file(tmp_path, model):
    path = tmp_path / "my_engine.py"
    path.write_text("from inferlab.serve.reference import ReferenceEngine as LLMEngine\n")
    engine = load_engine(f"{path}:LLMEngine", model, num_blocks=8)
    assert engine.generate([[1, 2, 3]], 3) == [greedy_reference(model, [1, 2, 3], 3)]
    with pytest.raises(ValueError, match="engine"):
        load_engine("no_colon_here", model)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_inferlab_serve_command_answers_the_openai_client(tmp_path, model):
    """The CLI as a user starts it, in its own process; the official client, unchanged, against it."""
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "inferlab")
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--num-blocks", "64"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        chunks = list(client.completions.create(model=MODEL, prompt="The KV cache", max_tokens=8, temperature=0,
                                                stream=True))
        tokens = [t for c in chunks if c.choices for t in c.choices[0].model_extra["token_ids"]]
        assert tokens == greedy_reference(model, encode("The KV cache"), 8)
    finally:
        proc.terminate()
        proc.wait(30)
