"""Limits for a process that runs a submission, and the sweep that follows it.

Inside the submission's process (`install`): resource limits (address space, CPU
time, file size, no core dumps) and a Python audit hook, which cannot be removed
once added, that refuses
- writing, deleting or renaming files outside the scratch folder,
- reading the course's checks, solutions, gradebook and other students' work,
- starting processes, except through the course's own launcher (lab05),
- loading native libraries or calling C functions through ctypes,
- reading another process's memory through /proc,
- connecting sockets anywhere but the loopback interface.
Outside it (`Reaper`): the grader becomes a child subreaper, so every process the
submission leaves behind (even after setsid and a double fork) is reparented to
the grader and killed when the submission's process is done.

What this does not defend against is written in autograder/README.md.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ENV_SCRATCH = "INFERLAB_SANDBOX_SCRATCH"
ENV_DENY = "INFERLAB_SANDBOX_DENY"      # os.pathsep-separated folders/files never to be read
ENV_MEMORY = "INFERLAB_SANDBOX_MEMORY_MB"
ENV_CPU = "INFERLAB_SANDBOX_CPU_S"
ENV_TOKEN = "INFERLAB_SANDBOX_TOKEN"

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SPAWN_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
                 "os.fork", "os.forkpty", "pty.spawn", "os.startfile"}
_PATH_EVENTS = {"os.remove": (0,), "os.rename": (0, 1), "os.rmdir": (0,), "os.mkdir": (0,),
                "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.link": (0, 1),
                "os.symlink": (0, 1), "os.utime": (0,), "shutil.rmtree": (0,), "shutil.move": (0, 1),
                "shutil.copyfile": (1,)}
_PROC_SECRETS = {"mem", "environ", "maps", "smaps", "pagemap", "fd", "fdinfo", "root", "cwd", "exe", "map_files",
                 "cmdline", "task", "syscall", "stack", "auxv"}
_installed = False


class SandboxViolation(PermissionError):
    """The submission tried something the grader does not allow."""


def _real(path) -> str:
    try:
        return os.path.realpath(os.fsdecode(path))
    except Exception:  # noqa: BLE001
        return ""


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _launcher_on_stack(trusted_files) -> bool:
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename in trusted_files:
            return True
        f = f.f_back
    return False


def install(scratch: str, deny=(), memory_mb: int | None = None, cpu_s: int | None = None) -> None:
    """Apply limits and the audit hook to this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    import resource

    scratch = _real(scratch)
    os.makedirs(scratch, exist_ok=True)
    writable = [scratch, "/dev/null", "/dev/shm", _real("/dev/shm")]
    denied = [_real(p) for p in deny if p]
    me = str(os.getpid())
    import inferlab

    pkg = os.path.dirname(os.path.abspath(inferlab.__file__))
    trusted = {os.path.join(pkg, "launch.py"), os.path.join(pkg, "grading", "sandbox.py")}

    def limit(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    if memory_mb:
        limit(resource.RLIMIT_AS, int(memory_mb) << 20)
    if cpu_s:
        limit(resource.RLIMIT_CPU, int(cpu_s))
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_FSIZE, 1 << 30)

    def check_write(path) -> None:
        p = _real(path)
        if not _under(p, writable):
            raise SandboxViolation(f"the grader does not allow writing {p!r} (only the scratch folder {scratch})")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if path is None or isinstance(path, int):
                return
            p = _real(path)
            if p.startswith("/proc/"):
                parts = p.split("/")
                if len(parts) > 3 and parts[2].isdigit() and parts[2] != me and parts[3] in _PROC_SECRETS:
                    raise SandboxViolation(f"the grader does not allow reading {p!r}")
            if _under(p, denied):
                raise SandboxViolation(f"the grader does not allow reading {p!r}")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing:
                check_write(p)
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and isinstance(args[i], (str, bytes, os.PathLike)):
                    check_write(args[i])
        elif event in _SPAWN_EVENTS:
            if not _launcher_on_stack(trusted):
                raise SandboxViolation(f"the grader does not allow starting processes ({event})")
        elif event.startswith("ctypes.") and event not in ("ctypes.get_errno", "ctypes.set_errno",
                                                            "ctypes.cdata/buffer", "ctypes.cdata"):
            if not _launcher_on_stack(trusted):
                raise SandboxViolation(f"the grader does not allow ctypes ({event})")
        elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            raise SandboxViolation(f"the grader does not allow {event}")
        elif event == "socket.connect":
            addr = args[1] if len(args) > 1 else None
            if isinstance(addr, tuple) and addr and isinstance(addr[0], str):
                host = addr[0]
                if not (host.startswith("127.") or host in ("::1", "localhost")):
                    raise SandboxViolation(f"the grader does not allow connecting to {host}")

    sys.addaudithook(hook)
    os.environ[ENV_SCRATCH] = scratch


def install_from_env() -> bool:
    """Install the sandbox when the environment says this process grades a submission."""
    scratch = os.environ.get(ENV_SCRATCH)
    if not scratch:
        return False
    deny = [p for p in os.environ.get(ENV_DENY, "").split(os.pathsep) if p]
    mem = int(os.environ.get(ENV_MEMORY) or 0) or None
    cpu = int(os.environ.get(ENV_CPU) or 0) or None
    install(scratch, deny, mem, cpu)
    return True


# ----------------------------------------------------------------------------- grader side


def _children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d.name))
    return out


def start_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def _environ_has(pid: int, token: str) -> bool:
    try:
        return f"{ENV_TOKEN}={token}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


class Reaper:
    """Make this process a subreaper and kill what a submission leaves behind."""

    def __init__(self) -> None:
        self.linux = sys.platform.startswith("linux")
        if self.linux:
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
            except Exception:  # noqa: BLE001
                self.linux = False

    def sweep(self, pgid: int | None, token: str, since_ticks: int = -1) -> int:
        """Kill the submission's process group and every process it left behind; return how many.

        Left behind: a child of the grader (reparented here, we are a subreaper) that
        carries the submission's token in its environment, or that started after the
        submission's process did and was not started by the grader itself.
        """
        killed = 0
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        if not self.linux:
            return killed
        since = since_ticks
        for _ in range(5):
            extra = []
            for p in _children_of(os.getpid()):
                if p in self.started:
                    continue
                if _environ_has(p, token) or (since >= 0 and start_ticks(p) >= since):
                    extra.append(p)
            for p in extra:
                try:
                    os.kill(p, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            for p in extra:
                try:
                    os.waitpid(p, 0)
                except ChildProcessError:
                    pass
            if not extra:
                break
            time.sleep(0.05)
        return killed

    started: set[int] = set()
