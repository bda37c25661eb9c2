"""JupyterHub for the InferLab course: one instructor server with formgrader, a server per student
with the Assignments tab, nbgrader's shared exchange, per-user limits, the course's environment.

Run from the repository (the pinned environment in .venv):

    INFERLAB_HUB_MODE=local INFERLAB_STUDENTS=ada,bob .venv/bin/jupyterhub -f deploy/jupyterhub_config.py

Settings, all from the environment (defaults in brackets):
  INFERLAB_HUB_MODE       local: test users (DummyAuthenticator, a shared password) whose servers run
                          as the hub's user with their own HOME; system: real Unix accounts (PAM)
                          whose servers run as those users [system]
  INFERLAB_INSTRUCTORS    instructor accounts, comma-separated [instructor]
  INFERLAB_STUDENTS       student accounts allowed in (empty: any account PAM accepts) []
  INFERLAB_HUB_PASSWORD   local mode: the test users' shared password [generated, printed nowhere]
  INFERLAB_COURSE         the instructor's course folder (holds nbgrader_config.py) [the repository]
  INFERLAB_EXCHANGE       nbgrader's exchange, shared by every server [/srv/nbgrader/exchange]
  INFERLAB_GRADEBOOK_URL  the gradebook (PostgreSQL for a class) [SQLite in the course folder]
  INFERLAB_HUB_DATA       the hub's database, cookie secret, users' homes in local mode [/srv/jupyterhub]
  INFERLAB_HUB_PORT       the public port on loopback (put TLS termination in front) [8000]
  INFERLAB_HUB_API_TOKEN  a token for the `course-admin` service (scripts, tests) [none]
  INFERLAB_CHP            the configurable-http-proxy command [configurable-http-proxy]
  INFERLAB_MEM_LIMIT      each user's memory (server and kernels) [8G]
  INFERLAB_CPU_LIMIT      each user's CPU cores (container spawners enforce it; nice here) [2]

On Kubernetes (Zero to JupyterHub) the same roles, exchange and limits are set in Helm values:
see deploy/README.md.
"""
import os
import resource
import secrets
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner

c = get_config()  # noqa: F821 - provided by JupyterHub

REPO = Path(__file__).resolve().parents[1]
MODE = os.environ.get("INFERLAB_HUB_MODE", "system")
INSTRUCTORS = {u for u in os.environ.get("INFERLAB_INSTRUCTORS", "instructor").split(",") if u}
STUDENTS = {u for u in os.environ.get("INFERLAB_STUDENTS", "").split(",") if u}
COURSE = Path(os.environ.get("INFERLAB_COURSE", str(REPO))).resolve()
EXCHANGE = Path(os.environ.get("INFERLAB_EXCHANGE", "/srv/nbgrader/exchange"))
DATA = Path(os.environ.get("INFERLAB_HUB_DATA", "/srv/jupyterhub"))
PORT = int(os.environ.get("INFERLAB_HUB_PORT", "8000"))
BIN = Path(sys.executable).parent  # the course's pinned environment: the hub's own
COURSE_ID = "inferlab"


def _bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    size = size.strip().upper()
    return int(float(size[:-1]) * units[size[-1]]) if size[-1] in units else int(size)


MEM_LIMIT = os.environ.get("INFERLAB_MEM_LIMIT", "8G")
CPU_LIMIT = float(os.environ.get("INFERLAB_CPU_LIMIT", "2"))

DATA.mkdir(parents=True, exist_ok=True)
# nbgrader's exchange: every server writes its inbound/feedback there (world-writable, sticky).
EXCHANGE.mkdir(parents=True, exist_ok=True)
os.chmod(EXCHANGE, 0o1777)

# ---------------------------------------------------------------- the hub
c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{DATA / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(DATA / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(DATA / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = os.environ.get("INFERLAB_CHP", "configurable-http-proxy").split()
c.ConfigurableHTTPProxy.pid_file = str(DATA / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.shutdown_on_logout = False

# ---------------------------------------------------------------- accounts
c.Authenticator.admin_users = set(INSTRUCTORS)
if STUDENTS:
    c.Authenticator.allowed_users = set(INSTRUCTORS) | STUDENTS
if MODE == "local":
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ.get("INFERLAB_HUB_PASSWORD") or secrets.token_urlsafe(16)
else:
    c.JupyterHub.authenticator_class = "pam"
    c.LocalAuthenticator.create_system_users = False

# A service for the instructor's scripts (and the tests): start servers, call their APIs.
token = os.environ.get("INFERLAB_HUB_API_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "course-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
        "services": ["course-admin"],
    }]


# ---------------------------------------------------------------- servers
def _limits(mem: int, cpus: float):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))  # the server and every kernel it starts
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.nice(max(0, int(round(10 - 5 * cpus))))  # a process spawner cannot cap cores: fewer, lower
    return apply


class CourseLocalSpawner(SimpleLocalProcessSpawner):
    """Test users on one machine: servers run as the hub's user, each in its own HOME, with limits."""

    def make_preexec_fn(self, name):
        home_and_cwd = super().make_preexec_fn(name)
        limits = _limits(_bytes(MEM_LIMIT), CPU_LIMIT)

        def preexec() -> None:
            home_and_cwd()
            limits()
        return preexec


class CourseSystemSpawner(LocalProcessSpawner):
    """Real Unix accounts: each server runs as its user (setuid by the hub), with limits."""

    def make_preexec_fn(self, name):
        become = super().make_preexec_fn(name)
        limits = _limits(_bytes(MEM_LIMIT), CPU_LIMIT)

        def preexec() -> None:
            limits()
            become()
        return preexec


c.JupyterHub.spawner_class = CourseLocalSpawner if MODE == "local" else CourseSystemSpawner
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = MEM_LIMIT
c.Spawner.cpu_limit = CPU_LIMIT
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.SimpleLocalProcessSpawner.home_dir_template = str(DATA / "home" / "{username}")
c.Spawner.environment = {
    "PATH": f"{BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",  # the pinned environment first
    "INFERLAB_EXCHANGE": str(EXCHANGE),
    "TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET", "1"),
}
if os.environ.get("INFERLAB_GRADEBOOK_URL"):
    c.Spawner.environment["INFERLAB_GRADEBOOK_URL"] = os.environ["INFERLAB_GRADEBOOK_URL"]
if os.geteuid() == 0 and MODE == "local":
    c.Spawner.args = ["--ServerApp.allow_root=True"]

STUDENT_HIDDEN = {  # JupyterLab: students see the Assignments tab, not the instructor's tools
    "@jupyter/nbgrader:formgrader": True,
    "@jupyter/nbgrader:create-assignment": True,
    "@jupyter/nbgrader:course-list": True,
}


def write_user_config(spawner) -> None:
    """Each user's ~/.jupyter: the nbgrader role (instructor or student) and the extensions it gets."""
    name = spawner.user.name
    if MODE == "local":
        home = Path(spawner.home_dir_template.format(username=name))
    else:
        import pwd

        home = Path(pwd.getpwnam(name).pw_dir)
    jupyter = home / ".jupyter"
    (jupyter / "labconfig").mkdir(parents=True, exist_ok=True)
    shared_uid = MODE == "local"  # every server runs as one Unix user: nbgrader must be told who is who
    if name in INSTRUCTORS:
        lines = [
            "c = get_config()",
            f"load_subconfig({str(COURSE / 'nbgrader_config.py')!r})",
            f"c.CourseDirectory.root = {str(COURSE)!r}",
            f"c.CourseDirectory.course_id = {COURSE_ID!r}",
            f"c.Exchange.root = {str(EXCHANGE)!r}",
        ]
        if shared_uid:
            lines.append("c.ExchangeCollect.check_owner = False")
        server_ext = {}
        hidden = {}
        spawner.notebook_dir = str(COURSE)
    else:
        lines = [
            "c = get_config()",
            f"c.CourseDirectory.course_id = {COURSE_ID!r}",
            f"c.Exchange.root = {str(EXCHANGE)!r}",
        ]
        if shared_uid:
            lines.append(f"c.CourseDirectory.student_id = {name!r}")
        server_ext = {"nbgrader.server_extensions.formgrader": False,
                      "nbgrader.server_extensions.course_list": False}
        hidden = STUDENT_HIDDEN
        spawner.notebook_dir = str(home)
    (jupyter / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    import json

    (jupyter / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": server_ext}}, indent=1))
    (jupyter / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": hidden}, indent=1))
    if MODE != "local":
        import pwd

        entry = pwd.getpwnam(name)
        for p in [jupyter, *jupyter.rglob("*")]:
            os.chown(p, entry.pw_uid, entry.pw_gid)
    spawner.environment = dict(spawner.environment, JUPYTER_CONFIG_DIR=str(jupyter),
                               NBGRADER_ROLE="instructor" if name in INSTRUCTORS else "student")


c.Spawner.pre_spawn_hook = write_user_config
