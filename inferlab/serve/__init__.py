"""`inferlab serve`: an engine behind an OpenAI-compatible HTTP endpoint on a real ASGI server (uvicorn).

    inferlab serve [--engine module:attr] [--host 127.0.0.1] [--port 8000]

    loop.py       EngineLoop: the engine's thread, requests joining the running batch, aborts
    app.py        the Starlette app: /v1/completions, /v1/chat/completions (SSE streaming), /v1/models
    reference.py  ReferenceEngine: the course engine with the serving interface (served by default)
    grading.py    lab08's trusted probes: a learner's engine counted, and served and exercised over HTTP

`--engine` names a class or factory called as `attr(model, num_blocks=, block_size=, max_num_seqs=,
max_num_batched_tokens=)` (lab08's `LLMEngine` signature): `module:attr` for an importable module,
or `path/to/file.py:attr` for a learner's file. The official `openai` client works unchanged:

    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none")
    client.completions.create(model="inferlab-target", prompt="The KV cache", max_tokens=16, temperature=0)
"""
from __future__ import annotations

import importlib
import importlib.util
import socket
import threading
from pathlib import Path


DEFAULT_ENGINE = "inferlab.serve.reference:ReferenceEngine"
DEFAULT_SIZES = dict(num_blocks=256, block_size=16, max_num_seqs=16, max_num_batched_tokens=256)



def __getattr__(name):  # the app and the loop load on first use: `inferlab --help` stays quick
    if name == "build_app":
        from inferlab.serve.app import build_app

        return build_app
    if name in ("EngineLoop", "EngineError"):
        from inferlab.serve import loop

        return getattr(loop, name)
    raise AttributeError(name)


__all__ = ["DEFAULT_ENGINE", "EngineError", "EngineLoop", "ServerThread", "build_app", "load_engine", "main"]


def load_engine(spec: str = DEFAULT_ENGINE, model=None, **sizes):
    """Build the engine named by `spec` ('module:attr' or 'file.py:attr') on `model` (default: the target)."""
    if ":" not in spec:
        raise ValueError(f"engine must look like module:attr or path/to/file.py:attr, got {spec!r}")
    where, _, attr = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.exists():
            raise ValueError(f"engine: no file {path}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    factory = getattr(module, attr, None)
    if factory is None:
        raise ValueError(f"engine: {where} defines no {attr!r}")
    if model is None:
        from inferlab.models import load

        model = load("target")
    return factory(model, **{**DEFAULT_SIZES, **sizes})


class ServerThread:
    """uvicorn serving `app` on a loopback port in a background thread (tests, probes, notebooks).

        with ServerThread(app) as srv:
            httpx.get(srv.url + "/v1/models")
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="uvicorn")

    def start(self, timeout: float = 20.0) -> "ServerThread":
        import time

        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(args) -> int:
    """The `inferlab serve` command."""
    import uvicorn

    from inferlab.models import load
    from inferlab.serve.app import build_app

    model = load(args.model)
    sizes = {k: getattr(args, k) for k in DEFAULT_SIZES if getattr(args, k, None) is not None}
    engine = load_engine(args.engine, model, **sizes)
    app = build_app(engine, model_name=f"inferlab-{args.model}", max_seq_len=model.config.max_seq_len)
    print(f"serving {args.engine} on http://{args.host}:{args.port}/v1 (model inferlab-{args.model})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def add_parser(sub) -> None:
    """Register `serve` on the CLI's subparsers."""
    s = sub.add_parser("serve", help="serve an engine behind an OpenAI-compatible HTTP endpoint")
    s.add_argument("--engine", default=DEFAULT_ENGINE, help="module:attr or file.py:attr (default: the course engine)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--model", default="target", choices=("target", "draft"))
    s.add_argument("--num-blocks", dest="num_blocks", type=int)
    s.add_argument("--block-size", dest="block_size", type=int)
    s.add_argument("--max-num-seqs", dest="max_num_seqs", type=int)
    s.add_argument("--max-num-batched-tokens", dest="max_num_batched_tokens", type=int)
    s.add_argument("--log-level", dest="log_level", default="warning")
    s.set_defaults(fn=main)
