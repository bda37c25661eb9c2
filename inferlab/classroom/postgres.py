"""A throw-away PostgreSQL server for a course's gradebook: initdb in a temporary folder,
started by pg_ctl on a loopback port (and a unix socket in that folder), removed on stop.

For trying the class set-up on one machine and for the tests; a class's real gradebook
lives on a managed server (see deploy/README.md). PostgreSQL refuses to run as root: when
root, the server runs as the `postgres` user (Debian's package creates it) or `nobody`.

    with LocalPostgres() as pg:
        os.environ["INFERLAB_GRADEBOOK_URL"] = pg.url
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here (the message says why)."""


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    return None


def install_debian_package() -> str:
    """apt-get install postgresql where it is missing and we may (root, Debian); '' or why not."""
    if find_bin("initdb") and find_bin("pg_ctl"):
        return ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "PostgreSQL is not installed (initdb/pg_ctl not found) and apt-get cannot be used here"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if out.returncode != 0:
            return f"{' '.join(cmd)} failed: {out.stderr.strip()[-300:]}"
    return "" if find_bin("initdb") and find_bin("pg_ctl") else "postgresql installed but initdb/pg_ctl not found"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    def __init__(self, database: str = "gradebook", user: str = "inferlab") -> None:
        self.database, self.user = database, user
        self.port = 0
        self.folder: Path | None = None
        self.run_as: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kw = {}
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            kw = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
               "HOME": str(self.folder)}
        out = subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=timeout,
                             cwd=self.folder, **kw)
        if out.returncode != 0:
            log = (self.folder / "server.log") if self.folder else None
            tail = log.read_text()[-1500:] if log and log.exists() else ""
            raise PostgresUnavailable(f"{' '.join(cmd[:2])} failed ({out.returncode}): "
                                      f"{(out.stderr or out.stdout).strip()[-1500:]}\n{tail}")
        return out

    def start(self) -> "LocalPostgres":
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise PostgresUnavailable("PostgreSQL is not installed: initdb/pg_ctl not found")
        self.folder = Path(tempfile.mkdtemp(prefix="inferlab-pg-"))
        if os.geteuid() == 0:  # postgres refuses to run as root
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self.run_as = name
                break
            else:
                raise PostgresUnavailable("running as root and there is no 'postgres' or 'nobody' user to run as")
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        os.chmod(self.folder, 0o700)
        data = self.folder / "data"
        self._run(initdb, "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-instructions")
        self.port = _free_port()
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(pg_ctl, "-D", str(data), "-o", opts, "-l", str(self.folder / "server.log"), "-w", "-t", "120",
                  "start", timeout=180)
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.database}"')
        conn.close()
        return self

    def stop(self) -> None:
        if self.folder is None:
            return
        pg_ctl = find_bin("pg_ctl")
        if self.port and pg_ctl and (self.folder / "data" / "postmaster.pid").exists():
            try:
                self._run(pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop", timeout=60)
            except (PostgresUnavailable, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> "LocalPostgres":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
