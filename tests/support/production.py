"""The production layout (`ostia deploy`) for the e2e tests: a fresh PostgreSQL database, a RabbitMQ topic of its
own, real local amphorae on loopback addresses of their own, and a client that, like one behind a VIP, sends a
request that failed at the connection level to the other API.

    with deployment(tmp_path, net, heartbeat_timeout=5) as dep:
        dep.api.call("POST", "/v2/lbaas/loadbalancers", {...})
        dep.kill("worker-1")            # SIGKILL; the supervisor starts it again
        dep.check_haproxy_matches_db()  # every amphora's applied haproxy.cfg == rendered from the rows
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text

from ostia import process
from ostia.cli.deploy_cmd import housekeeping_available
from ostia.db.engine import Database, make_engine
from ostia.db.models import Amphora, LoadBalancer
from ostia.db.to_spec import build_spec
from ostia.domain.spec import RenderSettings
from ostia.drivers.compute.local import delete_all
from ostia.render.haproxy import render_haproxy
from tests.e2e.conftest import OSTIA
from tests.e2e.test_rabbit import TRANSPORT_URL, _delete_queues
from tests.support.backends import Member
from tests.support.databases import fresh_database
from tests.support.processes import free_port, free_udp_port, stop

START_TIMEOUT = 90.0  # the machine is shared: a Python service takes several seconds to start under load
PROJECT = "p-production"
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")
TABLES = ("load_balancer", "listener", "pool", "member", "health_monitor", "l7policy", "l7rule")
CONNECTION_ERRORS = (httpx.TransportError,)


class ApiClient:
    """Octavia API calls through two API processes: a connection-level failure (refused, reset, timed out) is
    sent again to the other one, as a client behind a VIP would see it; bounded in attempts and time."""

    def __init__(self, urls: list[str], attempts: int = 40, timeout: float = 20.0) -> None:
        self.clients = [httpx.Client(base_url=u, timeout=timeout, headers={"X-Project-Id": PROJECT}) for u in urls]
        self.attempts = attempts
        self.retried = 0
        self._next = 0

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, bool]:
        """(status, JSON or None, whether the request had to be sent again)."""
        start = self._next = (self._next + 1) % len(self.clients)
        last: Exception | None = None
        for attempt in range(self.attempts):
            client = self.clients[(start + attempt) % len(self.clients)]
            try:
                resp = client.request(method, path, json=body)
            except CONNECTION_ERRORS as exc:
                last = exc
                self.retried += 1
                time.sleep(min(0.1 * (attempt + 1), 1.0) if attempt % len(self.clients) else 0)
                continue
            data = resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None
            return resp.status_code, data, attempt > 0
        raise AssertionError(f"{method} {path}: no API answered in {self.attempts} attempts ({last!r})")

    def close(self) -> None:
        for c in self.clients:
            c.close()


@dataclass
class Deployment:
    tmp: Path
    db_url: str
    conf_path: Path
    api_ports: list[int]
    hm_ports: list[int]
    supervisor: subprocess.Popen[bytes] | None = None
    api: ApiClient = field(init=False)
    kills: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api = ApiClient([f"http://127.0.0.1:{p}" for p in self.api_ports])
        self.db = Database(make_engine(self.db_url))

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    def services(self) -> list[str]:
        """What `ostia deploy` runs for this config (housekeeping once `ostia housekeeping` exists)."""
        extra = ["housekeeping"] if housekeeping_available() else []
        return [f"api-{i}" for i in (1, 2)] + [f"worker-{i}" for i in (1, 2)] + \
               [f"health-manager-{i}" for i in (1, 2)] + extra

    # -- processes ------------------------------------------------------------------------------------
    def start(self) -> None:
        with (self.tmp / "deploy.log").open("ab") as log:
            self.supervisor = subprocess.Popen([str(OSTIA), "--config-file", str(self.conf_path), "deploy"],
                                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_up()

    def pid(self, service: str) -> int | None:
        pid = process.read_pid(self.run_dir / f"{service}.pid")
        return pid if pid is not None and process.alive(pid) else None

    def ready(self, service: str) -> bool:
        """The service runs and has said so (API: answers HTTP; others: their start line in the log)."""
        if self.pid(service) is None:
            return False
        if service.startswith("api-"):
            port = self.api_ports[int(service[-1]) - 1]
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
            return False
        if service.startswith("worker"):  # the start line of this process: workers are named host:pid:random
            tag = f":{self.pid(service)}:"
            log = _read(self.state / "logs" / f"{service}.log")
            return any(tag in line and "listening on topic" in line for line in log.splitlines())
        if service.startswith("health-manager"):
            return _udp_bound(self.hm_ports[int(service[-1]) - 1])
        return True

    def wait_up(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.supervisor is not None and self.supervisor.poll() is not None:
                raise AssertionError(f"ostia deploy exited ({self.supervisor.returncode}):\n{self.logs()}")
            if all(self.ready(s) for s in self.services()):
                return
            time.sleep(0.2)
        raise AssertionError(f"services not up in {timeout}s: "
                             f"{[s for s in self.services() if not self.ready(s)]}\n{self.logs()}")

    def kill(self, service: str) -> bool:
        pid = self.pid(service)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.kills.append(service)
        return True

    def kill_everything(self) -> list[int]:
        """SIGKILL the supervisor and every service it runs (the amphorae stay: they are not the controller)."""
        pids = [p for s in self.services() if (p := self.pid(s)) is not None]
        if self.supervisor is not None:
            pids.insert(0, self.supervisor.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.supervisor is not None:
            self.supervisor.wait(10)
        deadline = time.monotonic() + 10
        while any(process.alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def stop(self) -> None:
        if self.supervisor is not None:
            stop(self.supervisor, 40)
        # anything a killed supervisor left behind
        process.terminate([p for s in self.services() if (p := self.pid(s)) is not None], 10)

    def logs(self, chars: int = 2500) -> str:
        parts = [f"--- deploy ---\n{_read(self.tmp / 'deploy.log')[-chars:]}"]
        for log in sorted((self.state / "logs").glob("*.log")):
            parts.append(f"--- {log.stem} ---\n{_read(log)[-chars:]}")
        return "\n".join(parts)

    # -- database checks --------------------------------------------------------------------------------
    def pending(self) -> dict[str, list[str]]:
        """Rows in PENDING_*, by table."""
        found: dict[str, list[str]] = {}
        with self.db.engine.connect() as conn:
            for table in TABLES:
                rows = conn.execute(text(f"SELECT id FROM {table} WHERE provisioning_status IN "  # noqa: S608
                                         "('PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE')")).scalars()
                if ids := list(rows):
                    found[table] = ids
        return found

    def haproxy_mismatches(self) -> list[str]:
        """For every ACTIVE load balancer's ALLOCATED amphora: the haproxy.cfg its agent applied must be what the
        rows render to now (same renderer, same paths as the worker), and the hash the worker recorded must be
        that file's. Returns what differs (empty: everything matches)."""
        problems: list[str] = []
        amp_dir = self.state / "amphorae"
        with self.db.session() as session:
            lbs = session.scalars(select(LoadBalancer).where(LoadBalancer.provisioning_status == "ACTIVE")).all()
            for lb in lbs:
                amps = session.scalars(select(Amphora).where(Amphora.load_balancer_id == lb.id,
                                                             Amphora.status == "ALLOCATED")).all()
                if not amps:
                    problems.append(f"lb={lb.id}: no ALLOCATED amphora")
                for amp in amps:
                    problems += _compare(lb, amp, amp_dir / amp.id)
        return problems

    def serving_urls(self) -> list[str]:
        """http://<vip>:<port>/ of every listener of an ACTIVE load balancer whose default pool has a member that
        takes traffic (enabled, weight > 0): each must answer from a member."""
        urls = []
        with self.db.session() as session:
            for lb in session.scalars(select(LoadBalancer).where(LoadBalancer.provisioning_status == "ACTIVE")):
                for li in lb.listeners:
                    pool = li.default_pool
                    if li.admin_state_up and pool is not None and pool.admin_state_up and any(
                            m.admin_state_up and m.weight > 0 for m in pool.members):
                        urls.append(f"http://{lb.vip_address}:{li.protocol_port}/")
        return urls

    def close(self) -> None:
        self.api.close()
        self.db.engine.dispose()


def _compare(lb: LoadBalancer, amp: Amphora, directory: Path) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(directory / "agent.conf")
    base = parser.get("amphora_agent", "base_path", fallback="")
    if not base:
        return [f"lb={lb.id} amp={amp.id}: no agent.conf"]
    settings = RenderSettings(base_dir=base, cert_dir=f"{base}/certs", log_target=None, user=None,
                              ping_wrapper=f"{base}/ping-wrapper.sh")
    spec = build_spec(lb, settings)
    applied = directory / lb.id / "haproxy.cfg"
    if not spec.listeners:
        running = process.read_pid(directory / lb.id / "haproxy.pid")
        if running is not None and process.alive(running):
            return [f"lb={lb.id} amp={amp.id}: HAProxy runs for a load balancer without listeners"]
        return []
    if not applied.exists():
        return [f"lb={lb.id} amp={amp.id}: no haproxy.cfg applied, the rows have {len(spec.listeners)} listeners"]
    want = render_haproxy(spec)
    have = applied.read_text()
    out = []
    if have != want:
        out.append(f"lb={lb.id} amp={amp.id}: applied haproxy.cfg differs from the rows:\n"
                   + "\n".join(_diff(want, have)))
    if amp.config_hash != hashlib.md5(have.encode(), usedforsecurity=False).hexdigest():
        out.append(f"lb={lb.id} amp={amp.id}: recorded config_hash {amp.config_hash} is not the applied file's")
    return out


def _diff(want: str, have: str) -> list[str]:
    import difflib

    return list(difflib.unified_diff(want.splitlines(), have.splitlines(), "rendered from DB", "applied",
                                     lineterm="", n=1))[:40]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def write_config(tmp: Path, db_url: str, net: int, api_ports: list[int], hm_ports: list[int],
                 topic: str, **options: dict[str, object]) -> Path:
    sections: dict[str, dict[str, object]] = {
        "DEFAULT": {"transport_url": TRANSPORT_URL, "state_dir": tmp / "state"},
        "database": {"connection": db_url},
        "jobs": {"topic": topic, "lease_seconds": 3, "sweep_interval": 1},
        "controller_worker": {"compute_driver": "local", "network_driver": "loopback", "amphora_driver": "agent"},
        "health_manager": {"controller_ip_port_list": ", ".join(f"127.0.0.1:{p}" for p in hm_ports),
                           "heartbeat_interval": 0.5, "heartbeat_timeout": 5, "health_check_interval": 0.5},
        "house_keeping": {"spare_amphora_pool_size": 0},
        "networking": {"networks": f"public:public-subnet:127.{net}.1.0/24,private:private-subnet:127.{net}.2.0/24"},
        "local_compute": {"mgmt_cidr": f"127.{net}.3.0/24"},
        "deploy": {"api_bind_ports": ", ".join(map(str, api_ports)), "restart_delay": 0.5, "stable_seconds": 5,
                   "stop_timeout": 15},
    }
    for section, values in options.items():
        sections.setdefault(section, {}).update(values)
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in values.items()]
    path = tmp / "production.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def deployment(tmp: Path, net: int, **options: dict[str, object]) -> Iterator[Deployment]:
    """`ostia deploy` on a database and topic of its own; `options` are config sections to override. Stops
    every process, removes the amphorae, drops the database and the test's queues at the end."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError as exc:
        raise AssertionError(f"RabbitMQ is not reachable on 127.0.0.1:5672 ({exc})") from exc
    topic = f"ostia-test-{uuid.uuid4().hex[:12]}"
    with fresh_database("postgresql", str(tmp)) as url:
        api_ports, hm_ports = [free_port(), free_port()], [free_udp_port(), free_udp_port()]
        conf = write_config(tmp, url, net, api_ports, hm_ports, topic, **options)
        dep = Deployment(tmp, url, conf, api_ports, hm_ports)
        try:
            dep.start()
            yield dep
        finally:
            try:
                dep.stop()
            finally:
                if keep := os.environ.get("OSTIA_KEEP_LOGS"):  # pytest's tmp dirs are purged by later runs
                    shutil.copytree(dep.state / "logs", Path(keep) / topic, dirs_exist_ok=True)
                    shutil.copy(tmp / "deploy.log", Path(keep) / topic / "deploy.log")
                dep.close()
                delete_all(dep.state / "amphorae")
                _delete_queues(topic)


@contextlib.contextmanager
def member_servers(count: int) -> Iterator[tuple[int, list[Member]]]:
    """A random 127.<net>.0.0/16 for a deployment's networks and `count` HTTP members on its private subnet."""
    net = random.randrange(100, 250)
    servers = [Member(f"m{i}", f"127.{net}.2.{10 + i}") for i in range(count)]
    try:
        yield net, servers
    finally:
        for s in servers:
            s.stop()
