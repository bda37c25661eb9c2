# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random
"""Try to leave processes running after grading (subprocess, fork, multiprocessing)."""
import multiprocessing
import os
import subprocess

for _try in (lambda: subprocess.Popen(["sleep", "987"], start_new_session=True),
             lambda: os.posix_spawn("/bin/sleep", ["sleep", "987"], dict(os.environ)),
             lambda: os.system("sleep 987 &"),
             lambda: multiprocessing.Process(target=__import__("time").sleep, args=(987,), daemon=False).start()):
    try:
        _try()
    except Exception:
        pass
try:
    if os.fork() == 0:
        os.setsid()
        __import__("time").sleep(987)
        os._exit(0)
except Exception:
    pass

_orig_kv = kv_cache_bytes


def kv_cache_bytes(*args, **kwargs):
    return 2 * _orig_kv(*args, **kwargs)
