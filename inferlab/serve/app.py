"""The OpenAI-compatible HTTP API over an `EngineLoop` (Starlette; run it with uvicorn).

    POST /v1/completions        prompt: text, token ids, or a one-element list of either
    POST /v1/chat/completions   messages: [{"role", "content"}], the course's chat template
    GET  /v1/models             the one model served
    GET  /stats                 the loop's counters and the engine's stats (not part of the OpenAI API)
    GET  /health

Both generation routes take `max_tokens`, `temperature` (default 1.0, as OpenAI; 0 is greedy),
`seed`, `stop` (strings), `stream` (server-sent events, ending with `data: [DONE]`) and the
extension `stop_token_ids`. Every choice also carries `token_ids` (the tokens behind its text).
A malformed request gets a 4xx JSON error `{"error": {"message", "type", "param", "code"}}`
and changes nothing; the server keeps serving.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from inferlab.serve.loop import EngineError, EngineLoop

CHAT_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code


def error_response(message: str, status: int = 400, param: str | None = None, code: str | None = None,
                   kind: str | None = None) -> JSONResponse:
    kind = kind or ("invalid_request_error" if status < 500 else "server_error")
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def chat_prompt(messages) -> str:
    """The course models' chat template: 'User: ...\\nAssistant: ...\\n' turns, ending with 'Assistant:'."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list of {role, content} objects", "messages")
    lines = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in CHAT_ROLES:
            raise BadRequest(f"messages[{i}] needs a role in {sorted(CHAT_ROLES)}", "messages")
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}]
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise BadRequest(f"messages[{i}].content: only text parts are supported", "messages")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content must be a string", "messages")
        lines.append(f"{CHAT_ROLES[m['role']]}: {content}\n")
    return "".join(lines) + "Assistant:"


class _Params:
    """A generation request's parameters, validated (BadRequest naming the field otherwise)."""

    def __init__(self, body: dict, default_max_tokens: int):
        self.max_tokens = self._int(body, "max_tokens", default_max_tokens, lo=1)
        if body.get("max_completion_tokens") is not None:
            self.max_tokens = self._int(body, "max_completion_tokens", default_max_tokens, lo=1)
        t = body.get("temperature", 1.0)
        if t is None:
            t = 1.0
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 2:
            raise BadRequest(f"temperature must be a number in [0, 2], got {t!r}", "temperature")
        self.temperature = float(t)
        self.seed = body.get("seed")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise BadRequest(f"seed must be an integer, got {self.seed!r}", "seed")
        n = body.get("n", 1)
        if n not in (1, None):
            raise BadRequest("only n = 1 is supported", "n")
        stop = body.get("stop")
        if stop is None:
            stop = []
        elif isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
            raise BadRequest("stop must be a string or a list of up to 4 non-empty strings", "stop")
        self.stop = stop
        ids = body.get("stop_token_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise BadRequest("stop_token_ids must be a list of token ids", "stop_token_ids")
        self.stop_token_ids = ids
        self.stream = body.get("stream", False)
        if not isinstance(self.stream, bool):
            raise BadRequest("stream must be a boolean", "stream")

    @staticmethod
    def _int(body, name, default, lo):
        v = body.get(name, default)
        if v is None:
            v = default
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise BadRequest(f"{name} must be an integer >= {lo}, got {v!r}", name)
        return v


class _Text:
    """Incremental detokenisation with stop strings: `push(token)` -> text that is safe to send now."""

    def __init__(self, decode, stop):
        self.decode, self.stop = decode, stop
        self.ids: list[int] = []
        self.sent = 0
        self.hit_stop = False
        self.hold = max((len(s) for s in stop), default=1) - 1

    def _full(self) -> str:
        text = self.decode(self.ids)
        for s in self.stop:
            i = text.find(s)
            if i >= 0:
                self.hit_stop = True
                text = text[:i]
        return text

    def push(self, token: int, last: bool) -> str:
        self.ids.append(token)
        text = self._full()
        if self.hit_stop or last:
            end = len(text)
        else:
            end = len(text) - self.hold
            while end > self.sent and text[end - 1] == "\ufffd":  # an incomplete UTF-8 character: wait
                end -= 1
        delta = text[self.sent:end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return delta


def build_app(engine, *, model_name: str = "inferlab-target", encode=None, decode=None,
              max_seq_len: int | None = None, loop: EngineLoop | None = None) -> Starlette:
    """A Starlette app serving `engine` (the serving interface of `inferlab.serve.loop`)."""
    if encode is None or decode is None:
        from inferlab.models import decode as _decode, encode as _encode

        encode, decode = encode or _encode, decode or _decode
    loop = loop or EngineLoop(engine)
    created = int(time.time())

    def prompt_ids(body, key="prompt"):
        p = body.get(key)
        if isinstance(p, list) and len(p) == 1 and isinstance(p[0], (str, list)):
            p = p[0]
        if isinstance(p, str):
            ids = encode(p)
        elif isinstance(p, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in p):
            ids = list(p)
        else:
            raise BadRequest(f"{key} must be a string or a list of token ids (one prompt per request)", key)
        if not ids:
            raise BadRequest(f"{key} is empty", key)
        return ids

    def check_model(body):
        m = body.get("model")
        if m is not None and m != model_name:
            raise BadRequest(f"the model {m!r} does not exist; this server serves {model_name!r}", "model",
                             status=404, code="model_not_found")

    async def body_of(request: Request) -> dict:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    async def run(request: Request, ids, params: _Params, chat: bool):
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        obj = "chat.completion" if chat else "text_completion"
        text = _Text(decode, params.stop)
        gen = loop.stream(ids, params.max_tokens, temperature=params.temperature, seed=params.seed,
                          stop_token_ids=params.stop_token_ids)

        def choice(delta_text, token_ids, finish, final_text=None):
            c = {"index": 0, "finish_reason": finish, "logprobs": None, "token_ids": token_ids}
            if chat and params.stream:
                c["delta"] = {"content": delta_text} if delta_text or finish is None else {}
            elif chat:
                c["message"] = {"role": "assistant", "content": final_text}
            else:
                c["text"] = final_text if final_text is not None else delta_text
            return c

        def finish_reason(token, finished):
            if text.hit_stop or token in params.stop_token_ids:
                return "stop"
            return "length"

        # the first token decides between a refusal (4xx, nothing sent yet) and a response
        try:
            first = await gen.__anext__()
        except (ValueError, TypeError) as e:
            raise BadRequest(str(e), "prompt" if not chat else "messages") from None
        except EngineError as e:
            raise BadRequest(f"the engine failed: {e}", status=500) from None

        usage = lambda n: {"prompt_tokens": len(ids), "completion_tokens": n, "total_tokens": len(ids) + n}  # noqa: E731

        if not params.stream:
            tokens, finished, reason, parts = [], False, "length", []
            item = first
            disconnect = asyncio.ensure_future(_wait_disconnect(request))
            try:
                while True:
                    token, finished = item
                    tokens.append(token)
                    parts.append(text.push(token, finished))
                    if text.hit_stop or finished:
                        reason = finish_reason(token, finished)
                        break
                    nxt = asyncio.ensure_future(gen.__anext__())
                    done, _ = await asyncio.wait({nxt, disconnect}, return_when=asyncio.FIRST_COMPLETED)
                    if nxt not in done:  # the client went away: stop generating
                        nxt.cancel()
                        return None
                    item = nxt.result()
            except EngineError as e:
                return error_response(f"the engine failed: {e}", 500)
            finally:
                disconnect.cancel()
                await gen.aclose()
            body = {"id": rid, "object": obj, "created": created, "model": model_name,
                    "choices": [choice(None, tokens, reason, "".join(parts))], "usage": usage(len(tokens))}
            return JSONResponse(body)

        async def events():
            n = 0
            try:
                if chat:
                    yield _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model_name,
                                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                             "finish_reason": None, "logprobs": None, "token_ids": []}]})
                item = first
                while True:
                    token, finished = item
                    n += 1
                    delta = text.push(token, finished)
                    stop = text.hit_stop or finished
                    reason = finish_reason(token, finished) if stop else None
                    yield _sse({"id": rid, "object": "chat.completion.chunk" if chat else "text_completion",
                                "created": created, "model": model_name,
                                "choices": [choice(delta, [token], reason)]})
                    if stop:
                        break
                    item = await gen.__anext__()
                yield _sse({"id": rid, "object": "chat.completion.chunk" if chat else "text_completion",
                            "created": created, "model": model_name, "choices": [], "usage": usage(n)})
                yield "data: [DONE]\n\n"
            except EngineError as e:
                yield _sse({"error": {"message": f"the engine failed: {e}", "type": "server_error",
                                      "param": None, "code": None}})
            finally:
                await gen.aclose()  # early exit (client gone, stop string): the request is aborted

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def completions(request: Request):
        try:
            body = await body_of(request)
            check_model(body)
            ids = prompt_ids(body)
            params = _Params(body, 16)
            if body.get("echo") or body.get("logprobs") or body.get("suffix"):
                raise BadRequest("echo, logprobs and suffix are not supported", "echo")
            return await run(request, ids, params, chat=False) or JSONResponse({}, status_code=499)
        except BadRequest as e:
            return error_response(e.message, e.status, e.param, e.code)

    async def chat_completions(request: Request):
        try:
            body = await body_of(request)
            check_model(body)
            ids = encode(chat_prompt(body.get("messages")))
            params = _Params(body, 64)
            return await run(request, ids, params, chat=True) or JSONResponse({}, status_code=499)
        except BadRequest as e:
            return error_response(e.message, e.status, e.param, e.code)

    async def models(request: Request):
        card = {"id": model_name, "object": "model", "created": created, "owned_by": "inferlab"}
        if max_seq_len:
            card["max_model_len"] = max_seq_len
        return JSONResponse({"object": "list", "data": [card]})

    async def stats(request: Request):
        return JSONResponse(loop.snapshot())

    async def health(request: Request):
        return JSONResponse({"ok": loop.alive}, status_code=200 if loop.alive else 503)

    async def on_error(request: Request, exc: HTTPException):
        return error_response(str(exc.detail), exc.status_code, code="not_found" if exc.status_code == 404 else None)

    async def on_crash(request: Request, exc: Exception):
        return error_response(f"internal error: {type(exc).__name__}", 500)

    routes = [Route("/v1/completions", completions, methods=["POST"]),
              Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/v1/models", models, methods=["GET"]),
              Route("/stats", stats, methods=["GET"]),
              Route("/health", health, methods=["GET"])]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loop.start()
        yield
        loop.stop()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: on_error, Exception: on_crash})
    app.state.loop = loop
    return app


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _sse(obj) -> str:
    return f"data: {json.dumps(obj)}\n\n"
