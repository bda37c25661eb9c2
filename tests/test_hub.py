"""The class on a real JupyterHub (deploy/jupyterhub_config.py), on loopback.

The instructor creates, generates and releases lab01 through formgrader's API on their own
server; two students fetch it through the Assignments tab's API on theirs; one saves the
reference answers (through the contents API, as the browser does) and submits, the other
submits the stub; the instructor collects, grades with `inferlab autograde` in the
environment the hub gives their server, generates and releases feedback; the students
fetch their feedback: verdicts and points, no hidden test. Skipped only when the hub
cannot start here (no configurable-http-proxy and no npm to install it, no free port).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from classroom import Classroom
from conftest import ROOT

LAB = "lab01"
BIN = Path(sys.executable).parent
CHP_PREFIX = ROOT / ".venv" / "node"  # project-local, ignored by git


def find_proxy() -> tuple[str | None, str]:
    """configurable-http-proxy: on PATH, in .venv/node, or installed there with npm now."""
    found = shutil.which("configurable-http-proxy")
    local = CHP_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
    if found or local.exists():
        return found or str(local), ""
    if not (shutil.which("npm") and shutil.which("node")):
        return None, "configurable-http-proxy is not installed and there is no node/npm to install it"
    try:
        out = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CHP_PREFIX),
                              "configurable-http-proxy@5"], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "npm install configurable-http-proxy timed out"
    if out.returncode != 0 or not local.exists():
        return None, f"npm install configurable-http-proxy failed: {out.stderr.strip()[-400:]}"
    return str(local), ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    def __init__(self, base: Path, course: Path, students: list[str]) -> None:
        self.base, self.course = base, course
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.data = base / "hub"
        self.exchange = base / "exchange"
        self.env = dict(os.environ, INFERLAB_HUB_MODE="local", INFERLAB_INSTRUCTORS="instructor",
                        INFERLAB_STUDENTS=",".join(students), INFERLAB_COURSE=str(course),
                        INFERLAB_EXCHANGE=str(self.exchange), INFERLAB_HUB_DATA=str(self.data),
                        INFERLAB_HUB_PORT=str(self.port), INFERLAB_HUB_API_TOKEN=self.token,
                        INFERLAB_HUB_PASSWORD=secrets.token_hex(8), INFERLAB_MEM_LIMIT="12G",
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        self.proc: subprocess.Popen | None = None
        self.log = base / "hub.log"
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"token {self.token}"

    def start(self, proxy: str, timeout: float = 240) -> str:
        """'' once the hub answers, else why it did not start."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.env["INFERLAB_CHP"] = proxy
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(ROOT / "deploy" / "jupyterhub_config.py")],
                                         cwd=self.data, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                return f"the hub exited ({self.proc.returncode}): {self.log.read_text()[-1500:]}"
            try:
                if self.s.get(f"{self.url}/hub/api/", timeout=5).ok:
                    return ""
            except requests.RequestException:
                pass
            time.sleep(1)
        return f"the hub did not answer within {timeout:.0f} s: {self.log.read_text()[-1500:]}"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # stops the users' servers and the proxy it started
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def start_server(self, user: str, timeout: float = 240) -> None:
        r = self.s.post(f"{self.url}/hub/api/users/{user}/server")
        assert r.status_code in (201, 202, 400), r.text  # 400: already running
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            model = self.s.get(f"{self.url}/hub/api/users/{user}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{user}'s server did not start:\n{self.log.read_text()[-3000:]}")

    def call(self, method: str, user: str, path: str, **kw):
        r = self.s.request(method, f"{self.url}/user/{user}/{path}", timeout=600, **kw)
        assert r.ok, f"{method} /user/{user}/{path}: {r.status_code} {r.text[-2000:]}"
        return r.json() if r.content else None

    def home(self, user: str) -> Path:
        return self.data / "home" / user


@pytest.mark.slow
def test_the_class_workflow_on_a_real_hub(tmp_path):
    proxy, why = find_proxy()
    if proxy is None:
        pytest.skip(why)
    room = Classroom(tmp_path, [LAB])
    hub = Hub(tmp_path, room.root, ["ada", "bob"])
    hub.env.update(INFERLAB_CELL_TIMEOUT="30", INFERLAB_CHECK_TIMEOUT="30")
    try:
        why = hub.start(proxy)
        if why:
            pytest.skip(why)
        users = hub.s.post(f"{hub.url}/hub/api/users", json={"usernames": ["instructor", "ada", "bob"]})
        assert users.status_code in (201, 409), users.text
        for user in ("instructor", "ada", "bob"):
            hub.start_server(user)

        # The instructor: create, generate and release lab01 with formgrader.
        fg = "formgrader/api"
        hub.call("PUT", "instructor", f"{fg}/assignment/{LAB}",
                 json={"duedate_notimezone": "2030-01-01T00:00:00", "duedate_timezone": "UTC"})
        for step in ("assign", "release"):
            out = hub.call("POST", "instructor", f"{fg}/assignment/{LAB}/{step}")
            assert out["success"], out

        # Students: the Assignments tab lists lab01; both fetch; ada saves the reference answers.
        form = {"assignment_id": LAB, "course_id": "inferlab"}
        for student in ("ada", "bob"):
            listed = hub.call("GET", student, "assignments", params={"course_id": "inferlab"})
            assert any(a["assignment_id"] == LAB and a["status"] == "released" for a in listed["value"]), listed
            hub.call("POST", student, "assignments/fetch", data=form)
            assert (hub.home(student) / LAB / f"{LAB}.ipynb").exists()
        reference = nbformat.read(ROOT / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
        hub.call("PUT", "ada", f"api/contents/{LAB}/{LAB}.ipynb",
                 json={"type": "notebook", "format": "json", "content": reference})
        for student in ("ada", "bob"):
            out = hub.call("POST", student, "assignments/submit", data=form)
            assert out.get("success", True), out

        # The instructor collects, grades with `inferlab autograde`, returns feedback.
        out = hub.call("POST", "instructor", f"{fg}/assignment/{LAB}/collect")
        assert out["success"], out
        assert sorted(p.name for p in (room.root / "submitted").iterdir()) == ["ada", "bob"]
        env = dict(hub.env, HOME=str(hub.home("instructor")),
                   JUPYTER_CONFIG_DIR=str(hub.home("instructor") / ".jupyter"), JUPYTERHUB_USER="instructor")
        graded = subprocess.run([str(BIN / "inferlab"), "autograde", LAB, "--workers", "1", "--json"],
                                cwd=room.root, env=env, capture_output=True, text=True, timeout=900)
        assert graded.returncode == 0, graded.stderr[-3000:]
        summary = json.loads(graded.stdout)
        assert summary["labs"][LAB]["graded"] == 2
        scores = {r["student"]: r["score"] for r in summary["submissions"]}
        assert scores["ada"] == summary["labs"][LAB]["max_score"] > 0 and scores["bob"] == 0
        for step in ("generate_feedback", "release_feedback"):
            out = hub.call("POST", "instructor", f"{fg}/assignment/{LAB}/{step}")
            assert out["success"], out

        # Students fetch feedback: verdicts and points, no hidden test.
        for student, verdict in (("ada", "PASS"), ("bob", "FAIL")):
            hub.call("POST", student, "assignments/fetch_feedback", data=form)
            stamps = hub.call("GET", student, f"api/contents/{LAB}/feedback")["content"]
            assert len(stamps) == 1
            page = hub.call("GET", student, f"api/contents/{stamps[0]['path']}/{LAB}.html",
                            params={"type": "file", "format": "text"})["content"]
            assert verdict in page and f"{scores[student]:g}" in page
            assert "BEGIN HIDDEN TESTS" not in page and "hidden=True" not in page
            assert "Traceback (most recent call last)" not in page
        # Students never had the instructor's tools.
        r = hub.s.get(f"{hub.url}/user/ada/formgrader/api/assignments")
        assert r.status_code == 404
    finally:
        hub.stop()
