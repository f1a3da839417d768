"""Run the whole platform on this machine in the background: start, stop, status.

    python deploy/local/platform.py start   # bootstrap, start the supervisor, wait until ready
    python deploy/local/platform.py stop    # stop what start started
    python deploy/local/platform.py status

Processes come from deploy/Procfile. A supervisor (``platform.py supervise``, started by
``start``) runs each in its own session with its log in $VAR_DIR/log/<name>.log and its pid in
$VAR_DIR/run/<name>.pid (VAR_DIR defaults to ./var), and restarts one that exits, with backoff
(1 s doubling to 30 s; back to 1 s once it has run a minute). Its own log is
$VAR_DIR/log/supervisor.log; its restart counts are in $VAR_DIR/run/supervisor.json.

``start`` refuses to start a second platform against what a running one uses (its gateway or
metrics port, consumers on its virtual host's service queues, connections to its databases),
whichever checkout started it; docs/operations.md says how to run an isolated copy.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# this file's directory first on the path would make it the standard library's `platform` module
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from service_runtime.config import GatewaySettings, env, env_bool, env_int  # noqa: E402
from services.console.settings import ConsoleSettings  # noqa: E402

VAR = Path(env("VAR_DIR", str(ROOT / "var"))).resolve()
RUN, LOG = VAR / "run", VAR / "log"

DEMO_MEMBERS = [
    {"name": "Li Lei", "phone": "13800000001", "registration_store": "SH-001", "channel": "pos"},
    {"name": "Han Meimei", "phone": "13800000002", "registration_store": "BJ-001", "channel": "app"},
]


def demo_sale(base: str, token: str, member_id: str) -> None:
    """One sale for the first demo member (idempotent: the same transaction id every time),
    once the points service has opened the account from member.registered."""
    sale = {"store": "SH-001", "terminal": "T1", "transaction_id": "DEMO-0001", "member_id": member_id,
            "amount": "128.00", "items": [{"sku": "MILK-1L", "category": "dairy", "qty": "2", "amount": "28.00"},
                                          {"sku": "RICE-5KG", "category": "grocery", "amount": "100.00"}],
            "sold_at": "2026-01-15T10:30:00+08:00"}
    for _ in range(20):
        status, body = http_json("POST", base + "/v1/points/sales", sale, token=token)
        if status in (200, 201):
            return
        time.sleep(0.25)
    print(f"demo data: sale {status} {body}", file=sys.stderr)


def procfile() -> list[tuple[str, list[str]]]:
    entries = []
    for line in (ROOT / "deploy" / "Procfile").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        entries.append((name.strip(), argv))
    return entries


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def running() -> dict[str, int]:
    found = {}
    for pidfile in sorted(RUN.glob("*.pid")):
        try:
            pid = int(pidfile.read_text().strip())
        except ValueError:
            continue
        if alive(pid):
            found[pidfile.stem] = pid
        else:
            pidfile.unlink(missing_ok=True)
    return found


def _local_secret(name: str, length: int, binary: bool = False) -> str:
    """A secret generated once for this machine's demo platform, kept in $VAR_DIR/secrets
    (``binary``: base64 of ``length`` random bytes, for encryption keys)."""
    directory = VAR / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / name
    if not path.exists():
        value = base64.b64encode(os.urandom(length)).decode() if binary else secrets.token_urlsafe(length)
        path.write_text(value)
        path.chmod(0o600)
    return path.read_text().strip()


def _local_created(name: str) -> str:
    """When a var/secrets file was written, for its rotation-due metric (service_runtime/expiry.py)."""
    return str(int((VAR / "secrets" / name).stat().st_mtime))


# which process gets which secret (every other process gets none of them); CALLER_SIGNING_KEY
# goes to every process: the gateway and each service sign and check the callers of RPCs with it
_SECRETS = {
    "gateway": ("GATEWAY_JWT_SECRET", "BOOTSTRAP_ADMIN_USER", "BOOTSTRAP_ADMIN_PASSWORD"),
    "members": ("MEMBERS_ENCRYPTION_KEYS", "MEMBERS_ACTIVE_KEY_ID", "MEMBERS_BLIND_INDEX_KEY"),
    "feed": ("FEED_SECRET_KEYS", "FEED_ACTIVE_KEY_ID"),
}


def process_env(name: str) -> dict[str, str]:
    """The environment of one Procfile process: only the secrets it needs."""
    full = child_env()
    mine = set(_SECRETS.get(name, ()))
    for variable in {v for names in _SECRETS.values() for v in names} - mine:
        full.pop(variable, None)
    if name != "catalog":  # the ERP connections' secrets (docs/erp.md) are the catalog's alone
        for variable in [v for v in full if v.startswith("ERP_SECRET_")]:
            full.pop(variable)
    return full


def child_env() -> dict[str, str]:
    child = dict(os.environ)
    if not child.get("GATEWAY_JWT_SECRET"):
        child["GATEWAY_JWT_SECRET"] = _local_secret("jwt-secret", 48)
        child.setdefault("GATEWAY_JWT_SECRET_CREATED", _local_created("jwt-secret"))
    if not child.get("CALLER_SIGNING_KEY"):
        child["CALLER_SIGNING_KEY"] = _local_secret("caller-signing-key", 48)
    if not child.get("BOOTSTRAP_ADMIN_USER"):
        child["BOOTSTRAP_ADMIN_USER"] = "admin"
    if not child.get("BOOTSTRAP_ADMIN_PASSWORD"):
        child["BOOTSTRAP_ADMIN_PASSWORD"] = _local_secret("admin-password", 12)
    if not child.get("MEMBERS_ENCRYPTION_KEYS"):
        child["MEMBERS_ENCRYPTION_KEYS"] = "k1=" + _local_secret("members-data-key-k1", 32, binary=True)
        child.setdefault("MEMBERS_ACTIVE_KEY_CREATED", _local_created("members-data-key-k1"))
    if not child.get("FEED_SECRET_KEYS"):  # webhook secrets sealed at rest (services/feed/secretbox.py)
        child["FEED_SECRET_KEYS"] = "k1=" + _local_secret("feed-secret-key-k1", 32, binary=True)
    if not child.get("MEMBERS_BLIND_INDEX_KEY"):
        child["MEMBERS_BLIND_INDEX_KEY"] = _local_secret("members-blind-index-key", 32, binary=True)
    child.setdefault("OTP_DELIVERY", "dev")  # DEVELOPMENT DELIVERY CHANNEL for member login codes
    child.setdefault("NOTIFY_DEV_CONSOLE", "1")  # a development platform: notify may use its console channel
    child.setdefault("OTEL_TRACES_EXPORTER", "jsonfile")
    child.setdefault("TRACE_FILE_DIR", str(VAR / "traces"))
    child["PYTHONPATH"] = str(ROOT) + (os.pathsep + child["PYTHONPATH"] if child.get("PYTHONPATH") else "")
    child["PYTHONUNBUFFERED"] = "1"
    return child


def http_json(method: str, url: str, body: dict[str, object] | None = None, timeout: float = 5,
              token: str | None = None) -> tuple[int, dict[str, object]]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def login(base: str, username: str, password: str) -> str:
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    request = urllib.request.Request(base + "/v1/auth/token", data=form, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


def wait_console(host: str, port: int, seconds: float = 20) -> None:
    """The console answers its /healthz (it starts beside the gateway; a few seconds at most)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if http_json("GET", f"http://{host}:{port}/healthz", timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.3)
    print(f"console did not answer on {host}:{port} in time; see {LOG / 'console.log'}", file=sys.stderr)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start() -> int:
    already = running()
    if already:
        print(f"platform already running ({', '.join(f'{n}={p}' for n, p in already.items())}); "
              "`make stop` first to restart it")
        return 0
    gateway = GatewaySettings.load()
    from deploy.local.occupied import port_clashes

    clashes = port_clashes(gateway.host, gateway.port)
    if clashes:
        print("refusing to start: " + "; ".join(clashes) + ". Give each its own port.", file=sys.stderr)
        return 1
    if not env_bool("PLATFORM_SKIP_RUNNING_CHECK", False):
        from deploy.local.occupied import occupied

        taken = occupied(gateway.host, gateway.port)
        if taken:
            print("refusing to start: a platform is already running on this machine with these settings "
                  "(perhaps from another checkout):", file=sys.stderr)
            for reason in taken:
                print(f"  - {reason}", file=sys.stderr)
            print("Stop it there (`make stop` in its checkout), or run an isolated copy with its own DB_NAME_PREFIX,\n"
                  "a virtual host in AMQP_URI, its own ports and its own VAR_DIR (docs/operations.md, "
                  "\"An isolated copy\").", file=sys.stderr)
            return 1
    RUN.mkdir(parents=True, exist_ok=True)
    LOG.mkdir(parents=True, exist_ok=True)

    print("bootstrap: databases, migrations, broker topology")
    subprocess.run([sys.executable, "-m", "service_runtime.bootstrap"], cwd=ROOT, env=child_env(), check=True)

    with (LOG / "supervisor.log").open("ab") as log_file:
        supervisor = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "supervise"], cwd=ROOT,
                                      env=dict(os.environ), stdout=log_file, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
    (RUN / "supervisor.pid").write_text(str(supervisor.pid))
    print(f"started supervisor (pid {supervisor.pid}, log {LOG / 'supervisor.log'})")
    announced: set[str] = set()

    base = f"http://{gateway.host}:{gateway.port}"
    # the platform is ready when every service answers the gateway (its /status on the metrics port);
    # the gateway's own /readyz only says the gateway can serve
    ready_url, ready_name = base + "/readyz", "/readyz"
    if gateway.metrics_port:
        host = "127.0.0.1" if gateway.metrics_host in ("0.0.0.0", "::") else gateway.metrics_host
        ready_url, ready_name = f"http://{host}:{gateway.metrics_port}/status", "/status"
    deadline = time.monotonic() + env_int("READY_WAIT_SECONDS", 90)
    last: object = None
    while time.monotonic() < deadline:
        procs = running()
        for name, _ in procfile():
            if name in procs and name not in announced:
                announced.add(name)
                print(f"started {name} (pid {procs[name]}, log {LOG / (name + '.log')})")
        failing = [n for n, state in supervisor_state().items() if state.get("restarts", 0) >= 3]
        if failing or "supervisor" not in procs:
            for name in failing or ["supervisor"]:
                print(f"--- {name} keeps exiting; last lines of its log:\n{tail(LOG / (name + '.log'))}",
                      file=sys.stderr)
            stop()
            return 1
        try:
            status, body = http_json("GET", ready_url, timeout=5)
            last = body
            # /status is on its own port, up before uvicorn binds the API's: wait for both
            if status == 200 and body.get("status") in ("ready", "ok") and \
                    http_json("GET", base + "/healthz", timeout=5)[0] == 200:
                break
        except ValueError:
            last = (f"not JSON: another program answers on port {urllib.parse.urlsplit(ready_url).port}; "
                    "see the gateway log, and `ss -ltnp` for who holds that port")
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    else:
        print(f"platform did not become ready in time (last {ready_name}: {last}); logs in {LOG}", file=sys.stderr)
        stop()
        return 1

    admin_user, admin_password = child_env()["BOOTSTRAP_ADMIN_USER"], child_env()["BOOTSTRAP_ADMIN_PASSWORD"]
    try:
        token: str | None = login(base, admin_user, admin_password)
    except urllib.error.HTTPError:
        token = None  # an admin existed before (another checkout, or a changed password)
    if token is not None and env_bool("DEMO_DATA", False):
        for member in DEMO_MEMBERS:
            status, body = http_json("POST", base + "/v1/members", member, token=token)
            if status not in (200, 201):
                print(f"demo data: {status} {body}", file=sys.stderr)
            elif member["registration_store"] == "SH-001":
                demo_sale(base, token, body["member"]["member_id"])
        print(f"demo data: {len(DEMO_MEMBERS)} members (phones 13800000001, 13800000002), one sale at SH-001")

    print()
    print(f"Gateway:  {gateway.public_url}")
    print(f"API docs: {gateway.public_url}/docs")
    console = ConsoleSettings.load()
    wait_console(console.host, console.port)
    print(f"Console:  {console.public_url}   (staff: the admin below, or any staff account)")
    print(f"Member page: {console.public_url}/m/   (log in with a member's phone; the code is in the gateway log)")
    if token is not None:
        print(f"Admin:    {admin_user} / {admin_password}   (created at first start from BOOTSTRAP_ADMIN_USER/"
              "BOOTSTRAP_ADMIN_PASSWORD; this demo password is kept in var/secrets)")
    else:
        print(f"Admin:    an admin already existed in this database, so {admin_user!r} was not (re)created and its "
              "password is not the one in var/secrets; use yours, or reset it with "
              f"`.venv/bin/python -m services.gateway.manage set-password {admin_user}`")
    print(f"Logs:     {LOG}   Traces: {VAR / 'traces'}")
    print("Stop it with `make stop`.")
    return 0


def stop() -> int:
    procs = running()
    if not procs:
        print("platform is not running")
        return 0
    supervisor = procs.pop("supervisor", None)
    if supervisor is not None:  # first, so that it restarts nothing; it stops its processes itself
        try:
            os.kill(supervisor, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and alive(supervisor):
            time.sleep(0.2)
        (RUN / "supervisor.pid").unlink(missing_ok=True)
    for pid in procs.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in procs.values()):
        time.sleep(0.2)
    for name, pid in procs.items():
        if alive(pid):
            print(f"{name} (pid {pid}) did not stop in time; killing it")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        (RUN / f"{name}.pid").unlink(missing_ok=True)
    print(f"stopped {', '.join((['supervisor'] if supervisor else []) + list(procs))}")
    return 0


def supervisor_state() -> dict[str, dict[str, object]]:
    try:
        return dict(json.loads((RUN / "supervisor.json").read_text()))
    except (OSError, ValueError):
        return {}


def status() -> int:
    procs = running()
    state = supervisor_state()
    if "supervisor" in procs:
        print(f"{'supervisor':10} running, pid {procs['supervisor']}")
    elif procs:
        print(f"{'supervisor':10} NOT RUNNING: nothing restarts a process that exits (`make stop`, `make run`)")
    for name, _ in procfile():
        line = f"{name:10} {'running, pid ' + str(procs[name]) if name in procs else 'stopped'}"
        restarts = int(state.get(name, {}).get("restarts", 0) or 0)  # type: ignore[call-overload]
        if restarts:
            line += f", restarted {restarts} time(s), last at {state[name].get('last_restart')} " \
                    f"after exit {state[name].get('last_exit')}"
        print(line)
    return 0 if procs else 3


def supervise() -> int:
    from deploy.local.supervisor import Supervisor

    return Supervisor(procfile(), process_env, RUN, LOG).run()


if __name__ == "__main__":
    commands = {"start": start, "stop": stop, "status": status, "supervise": supervise}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]]())
