"""The `local` compute driver: each amphora is an `ostia agent` daemon on this machine.

Layout of `amphora_dir` (0711: HAProxy workers, which drop to `nobody`, must reach the agent's ping
wrapper inside an amphora's directory, but nobody else needs to list the amphorae):
    .lock                       flock held while allocating an address, building or deleting
    <amphora id>/               one amphora, created 0700 (the agent opens it to 0755 for that wrapper; its
                                secrets stay 0600/0700); the agent's base_path, so its HAProxy/keepalived
                                state (<lb id>/haproxy.cfg, <lb id>/haproxy.pid, ...) lives here too
        agent.conf              the agent's oslo.config file ([amphora_agent]); bind_host = the management address
        tls/                    0700 (the amphora directory itself is opened to 0755 by the agent):
          server.pem, server.key  the agent's certificate (CN = amphora id) and key
          client_ca.pem           the CA the controller's client certificate must chain to
        agent.pid, agent.log    the running agent (stdout and stderr appended)

The agent's base_path is not that directory but a symlink to it, `<link_dir>/<12 hex>`: HAProxy refuses a
UNIX socket path longer than 97 bytes, and the agent keeps `<lb id>/master.sock` and `<lb id>.sock` under
base_path, so `<state_dir>/amphorae/<amphora id>/<lb id>/master.sock` (two UUIDs) is too long for almost any
state_dir. The link is recreated whenever the agent is started (/run is emptied by a reboot).

The agent runs in its own session (start_new_session): it outlives the controller, and a Ctrl-C on
`ostia up`'s terminal, which signals the foreground process group, never reaches it. The directory is the
record of a local amphora: its address, configuration and processes are all found from it, so a restarted
controller (`reattach`) needs nothing kept in memory.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from sqlalchemy import select

from ostia import process
from ostia.db.engine import Database
from ostia.db.models import Amphora, LoadBalancer
from ostia.domain.enums import AmphoraStatus, ProvisioningStatus, Topology
from ostia.drivers.certificates.base import CertificateDriver
from ostia.drivers.compute import procs
from ostia.drivers.compute.base import ComputeInstance
from ostia.files import write_private

LOG = logging.getLogger(__name__)

AGENT_CONF = "agent.conf"
AGENT_PID = "agent.pid"
AGENT_LOG = "agent.log"
TLS_DIR = "tls"
SERVER_CERT = f"{TLS_DIR}/server.pem"
SERVER_KEY = f"{TLS_DIR}/server.key"
CLIENT_CA = f"{TLS_DIR}/client_ca.pem"
AGENT_GROUP = "amphora_agent"
AGENT_STOP_GRACE = 0.5  # seconds between SIGTERM and SIGKILL for a deleted amphora's agent
# compute ids become directory names: nothing that could climb out of amphora_dir
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def default_agent_command() -> list[str]:
    script = Path(sys.executable).with_name("ostia")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "agent"]
    return [sys.executable, "-m", "ostia.cli.main", "agent"]


def default_link_dir() -> Path:
    if os.access("/run", os.W_OK):
        return Path("/run/ostia-amphorae")
    return Path(tempfile.gettempdir()) / f"ostia-amphorae-{os.getuid()}"


def _own_dir(path: Path, mode: int) -> None:
    """Create or accept a directory only if it is ours and not a symlink (others can write to /tmp)."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RuntimeError(f"{path} is not a directory owned by uid {os.getuid()}")
    os.chmod(path, mode)  # mkdir's mode is filtered by umask and ignored for an existing directory


def _render_ini(sections: Mapping[str, Mapping[str, str]]) -> bytes:
    lines: list[str] = []
    for group, options in sections.items():
        lines.append(f"[{group}]")
        for name, value in options.items():
            if "\n" in str(value):
                raise ValueError(f"agent option {group}.{name}: newlines are not allowed")
            lines.append(f"{name} = {value}")
        lines.append("")
    return "\n".join(lines).encode()


class LocalComputeDriver:
    def __init__(self, amphora_dir: str | os.PathLike[str], certificates: CertificateDriver, *,
                 db: Database | None = None, mgmt_cidr: str = "127.3.0.0/16", agent_port: int = 9443,
                 agent_command: Sequence[str] | None = None, haproxy_cmd: str = "haproxy",
                 topology: str = Topology.SINGLE, stop_timeout: float = 10.0,
                 prepare_namespace: Callable[[str], str] | None = None,
                 agent_options: Mapping[str, Mapping[str, str]] | None = None,
                 link_dir: str | os.PathLike[str] | None = None) -> None:
        """`prepare_namespace(amphora_id)` (the netns network driver's) returns the namespace the amphora's
        HAProxy runs in; `agent_options` are extra agent.conf sections (e.g. heartbeat settings)."""
        self.amphora_dir = Path(amphora_dir).absolute()
        self.link_dir = Path(link_dir).absolute() if link_dir else default_link_dir()
        self.mgmt_network = ipaddress.ip_network(mgmt_cidr)
        if not self.mgmt_network.is_loopback:
            # agents listen in the host namespace: a non-loopback address would expose them off the host
            raise ValueError(f"[local_compute] mgmt_cidr {mgmt_cidr} is not a loopback network")
        self.certificates = certificates
        self.db = db
        self.agent_port = agent_port
        self.agent_command = list(agent_command or default_agent_command())
        self.haproxy_cmd = haproxy_cmd
        self.topology = topology
        self.stop_timeout = stop_timeout
        self.prepare_namespace = prepare_namespace
        self.agent_options = {g: dict(o) for g, o in (agent_options or {}).items()}
        # Agents this process started, kept only so their exit status gets reaped (no zombies); the
        # truth about which agent runs is the pid file checked against /proc.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._children_lock = threading.Lock()

    @classmethod
    def from_conf(cls, conf: Any, certificates: CertificateDriver, db: Database | None = None,
                  prepare_namespace: Callable[[str], str] | None = None,
                  agent_options: Mapping[str, Mapping[str, str]] | None = None) -> LocalComputeDriver:
        c = conf.local_compute
        return cls(c.amphora_dir or os.path.join(os.path.abspath(conf.state_dir), "amphorae"), certificates,
                   db=db, mgmt_cidr=c.mgmt_cidr, agent_port=conf.haproxy_amphora.bind_port,
                   agent_command=c.agent_command, haproxy_cmd=c.haproxy_cmd,
                   topology=conf.controller_worker.loadbalancer_topology, stop_timeout=c.stop_timeout,
                   prepare_namespace=prepare_namespace, agent_options=agent_options,
                   link_dir=c.link_dir or None)

    # -- ComputeDriver ------------------------------------------------------------------------------------

    def build(self, amphora_id: str, load_balancer_id: str | None) -> ComputeInstance:
        directory = self.directory(amphora_id)
        with self._locked():
            address = self._configured_address(directory)
            if address is not None and self._agent_pid(amphora_id) is not None:
                return ComputeInstance(amphora_id, address, self._cert_expiration(directory))
            if address is None:
                address = self._allocate_address()
                self._prepare_directory(amphora_id, address, self._topology_of(load_balancer_id))
            self._ensure_certificates(amphora_id)
            self._ensure_namespace(amphora_id)
            self._start_agent(amphora_id)
        LOG.info("amp=%s lb=%s: agent started on %s:%d", amphora_id, load_balancer_id, address, self.agent_port)
        return ComputeInstance(amphora_id, address, self._cert_expiration(directory))

    @staticmethod
    def _cert_expiration(directory: Path) -> dt.datetime | None:
        try:
            cert = x509.load_pem_x509_certificate((directory / SERVER_CERT).read_bytes())
        except (OSError, ValueError):
            return None
        return cert.not_valid_after_utc.replace(tzinfo=None)

    def delete(self, compute_id: str) -> None:
        directory = self.directory(compute_id)
        if not directory.exists():
            return
        # Stopping can take up to a few stop_timeouts; builds of other amphorae need not wait for it. The
        # lock only guards the removal, which is what frees the management address.
        self._stop_everything(compute_id, directory)
        with self._locked():
            self._remove_link(compute_id)
            shutil.rmtree(directory, ignore_errors=True)
        LOG.info("amp=%s: deleted %s", compute_id, directory)

    def status(self, compute_id: str) -> str:
        if not self.directory(compute_id).exists():
            return ProvisioningStatus.DELETED
        return ProvisioningStatus.ACTIVE if self._agent_pid(compute_id) is not None else ProvisioningStatus.ERROR

    # -- restart of the control plane ---------------------------------------------------------------------

    def reattach(self, amphorae: list[tuple[str, str]]) -> None:
        """Start the agent again for every (amphora_id, compute_id) whose agent is not running.

        HAProxy and keepalived were left running (they are not the agent's children once daemonized); the new
        agent adopts them from their pid files and sockets under the amphora directory.
        """
        for amphora_id, compute_id in amphorae:
            directory = self.directory(compute_id)
            with self._locked():
                if self._configured_address(directory) is None:
                    LOG.warning("amp=%s: no agent configuration in %s; cannot reattach", amphora_id, directory)
                    continue
                if self._agent_pid(compute_id) is not None:
                    continue
                self._ensure_certificates(compute_id)
                self._ensure_namespace(compute_id)
                self._start_agent(compute_id)
            LOG.info("amp=%s: agent restarted (reattach)", amphora_id)

    # -- paths and state ----------------------------------------------------------------------------------

    def directory(self, compute_id: str) -> Path:
        if not _SAFE_ID.match(compute_id):
            raise ValueError(f"invalid local compute id {compute_id!r}")
        return self.amphora_dir / compute_id

    def base_path(self, compute_id: str) -> Path:
        """The short path the agent knows its directory by (a symlink to `directory(compute_id)`)."""
        digest = hashlib.sha256(str(self.directory(compute_id)).encode()).hexdigest()[:12]
        return self.link_dir / digest

    def _ensure_link(self, compute_id: str) -> None:
        link, target = self.base_path(compute_id), self.directory(compute_id)
        with contextlib.suppress(OSError):
            if os.readlink(link) == str(target):
                return
        _own_dir(self.link_dir, 0o711)  # traversable, like amphora_dir, for HAProxy's `nobody` workers
        tmp = link.with_name(f".{link.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, link)  # atomic: the agent never sees the link missing

    def _remove_link(self, compute_id: str) -> None:
        link = self.base_path(compute_id)
        with contextlib.suppress(OSError):
            if os.readlink(link) == str(self.directory(compute_id)):
                link.unlink()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock: one lock for every process and thread on this machine that manages these amphorae
        _own_dir(self.amphora_dir, 0o711)
        fd = os.open(self.amphora_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read_conf(self, directory: Path) -> configparser.ConfigParser | None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string((directory / AGENT_CONF).read_text())
        except (OSError, configparser.Error):
            return None
        return parser if parser.has_section(AGENT_GROUP) else None

    def _configured_address(self, directory: Path) -> str | None:
        parser = self._read_conf(directory)
        return parser.get(AGENT_GROUP, "bind_host", fallback=None) if parser else None

    def _agent_pid(self, compute_id: str) -> int | None:
        """The running agent's pid, or None; a stale pid file or a reused pid does not count."""
        self._reap()
        directory = self.directory(compute_id)
        pid = process.read_pid(directory / AGENT_PID)
        if pid is None or not process.alive(pid):
            return None
        return pid if str(directory / AGENT_CONF) in process.cmdline(pid) else None

    def _reap(self) -> None:
        with self._children_lock:
            for key, child in list(self._children.items()):
                if child.poll() is not None:
                    del self._children[key]

    # -- building -----------------------------------------------------------------------------------------

    def _used_addresses(self) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        found: set[str] = set()
        if self.amphora_dir.exists():
            for entry in self.amphora_dir.iterdir():
                if entry.is_dir() and (address := self._configured_address(entry)):
                    found.add(address)
        if self.db is not None:
            # amphorae of other controllers' runs, or whose directory was lost, still own their address
            with self.db.session() as session:
                found.update(ip for ip in session.scalars(
                    select(Amphora.lb_network_ip).where(Amphora.status != AmphoraStatus.DELETED,
                                                        Amphora.lb_network_ip.is_not(None))) if ip)
        used = set()
        for text in found:
            with contextlib.suppress(ValueError):
                used.add(ipaddress.ip_address(text))
        return used

    def _port_free(self, address: str) -> bool:
        # Catches a stray listener (an orphaned agent, another program) the records know nothing about.
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, self.agent_port))
            except OSError:
                return False
        return True

    def _allocate_address(self) -> str:
        """Called with the lock held: the first free address, so concurrent builds never share one."""
        used = self._used_addresses()
        for candidate in self.mgmt_network.hosts():
            if candidate not in used and self._port_free(str(candidate)):
                return str(candidate)
        raise RuntimeError(f"[local_compute] mgmt_cidr {self.mgmt_network} has no free address left")

    def _topology_of(self, load_balancer_id: str | None) -> str:
        """The load balancer's own topology (a flavor can override the configured default)."""
        if self.db is not None and load_balancer_id is not None:
            with self.db.session() as session:
                lb = session.get(LoadBalancer, load_balancer_id)
                if lb is not None and lb.topology:
                    return lb.topology
        return str(self.topology)

    def _prepare_directory(self, amphora_id: str, address: str, topology: str) -> None:
        directory = self.directory(amphora_id)
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by umask
        self._write_conf(amphora_id, address, namespace="", topology=topology)

    def _write_conf(self, amphora_id: str, address: str, namespace: str, topology: str) -> None:
        directory = self.directory(amphora_id)
        agent = {
            "amphora_id": amphora_id,
            "base_path": str(self.base_path(amphora_id)),
            "bind_host": address,
            "bind_port": str(self.agent_port),
            "agent_server_cert": str(directory / SERVER_CERT),
            "agent_server_key": str(directory / SERVER_KEY),
            "agent_server_ca": str(directory / CLIENT_CA),
            "network_namespace": namespace,
            "loadbalancer_topology": topology,
            "pid_file": str(directory / AGENT_PID),
            "haproxy_cmd": self.haproxy_cmd,
        }
        sections = {g: dict(o) for g, o in self.agent_options.items()}
        sections[AGENT_GROUP] = {**sections.get(AGENT_GROUP, {}), **agent}
        write_private(directory / AGENT_CONF, _render_ini(sections))

    def _ensure_certificates(self, amphora_id: str) -> None:
        directory = self.directory(amphora_id)
        _own_dir(directory / TLS_DIR, 0o700)
        for name in (SERVER_KEY, SERVER_CERT):  # an amphora made before tls/ existed keeps its identity
            old = directory / Path(name).name
            if old.exists() and not (directory / name).exists():
                os.replace(old, directory / name)
        parser = self._read_conf(directory)
        if parser is not None and parser.get(AGENT_GROUP, "agent_server_cert", fallback="") \
                != str(directory / SERVER_CERT):  # its agent.conf still names the old paths: the agent would not start
            self._write_conf(amphora_id, parser.get(AGENT_GROUP, "bind_host"),
                             parser.get(AGENT_GROUP, "network_namespace", fallback=""),
                             parser.get(AGENT_GROUP, "loadbalancer_topology", fallback=str(self.topology)))
        if not ((directory / SERVER_CERT).exists() and (directory / SERVER_KEY).exists()):
            issued = self.certificates.issue_server_cert(amphora_id)
            write_private(directory / SERVER_KEY, issued.key_pem)  # the key first, as the CA driver does
            write_private(directory / SERVER_CERT, issued.cert_pem)
        # Rewritten every time: cheap, and follows a CA that was replaced meanwhile.
        write_private(directory / CLIENT_CA, self.certificates.ca_bundle())

    def _ensure_namespace(self, amphora_id: str) -> None:
        if self.prepare_namespace is None:
            return
        namespace = self.prepare_namespace(amphora_id)  # idempotent; recreates it after a host reboot
        parser = self._read_conf(self.directory(amphora_id))
        assert parser is not None
        if parser.get(AGENT_GROUP, "network_namespace", fallback="") != namespace:
            self._write_conf(amphora_id, parser.get(AGENT_GROUP, "bind_host"), namespace,
                             parser.get(AGENT_GROUP, "loadbalancer_topology", fallback=str(self.topology)))

    def _start_agent(self, amphora_id: str) -> None:
        directory = self.directory(amphora_id)
        self._ensure_link(amphora_id)
        log_fd = os.open(directory / AGENT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            child = subprocess.Popen(
                [*self.agent_command, "--config-file", str(directory / AGENT_CONF)],
                stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT, cwd=directory,
                start_new_session=True, close_fds=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            os.close(log_fd)
        # Written here too (the agent writes the same pid): status() is right from the first instant.
        write_private(directory / AGENT_PID, f"{child.pid}\n".encode())
        with self._children_lock:
            self._children[amphora_id] = child

    # -- deleting -----------------------------------------------------------------------------------------

    def _stop_everything(self, compute_id: str, directory: Path) -> None:
        # HAProxy and keepalived name their files by the link path, the agent by the real one
        places = (str(directory), str(self.base_path(compute_id)))
        agent = self._agent_pid(compute_id)
        # Processes still in the agent's session (children it did not daemonize) belong to the amphora too;
        # collected while the agent lives, since only then is its pid known to be the session's.
        session = procs.pids_in_session(agent) if agent is not None else set()
        if agent is not None:
            # first, so it cannot restart HAProxy while the rest is being stopped; briefly: nothing of a deleted
            # amphora's agent needs a graceful end, and uvicorn would wait out its 3 s graceful-shutdown bound on
            # the controller's idle keep-alive TLS connection (the peer never answers close_notify)
            process.terminate([agent], min(self.stop_timeout, AGENT_STOP_GRACE))
        self._reap()
        # Bounded: a second pass catches a process that was starting while the first one ran.
        for _ in range(3):
            targets = session | self._pid_file_processes(directory, places)
            for place in places:
                targets |= procs.pids_mentioning(place)
            targets = {p for p in targets if process.alive(p)}
            if not targets:
                return
            survivors = process.terminate(targets, self.stop_timeout)
            if survivors:
                LOG.warning("amp=%s: processes %s survived SIGKILL", compute_id, sorted(survivors))
            session = set()
        self._reap()

    @staticmethod
    def _pid_file_processes(directory: Path, places: Sequence[str]) -> set[int]:
        """HAProxy masters, keepalived, nginx... named by pid files under the directory, if they are ours."""
        found = set()
        for pid_file in directory.rglob("*.pid"):
            pid = process.read_pid(pid_file)
            if pid is not None and pid != os.getpid() and process.alive(pid) and any(
                    procs.mentions(pid, p) or procs.cwd_inside(pid, p) for p in places):
                found.add(pid)
        return found


def delete_all(amphora_dir: str | os.PathLike[str], link_dir: str | os.PathLike[str] | None = None) -> None:
    """Stop and remove every amphora under `amphora_dir`: the clean-up of tests and benchmarks whose `ostia up`
    exits with amphorae still running (they outlive the controller on purpose)."""
    root = Path(amphora_dir)
    if not root.is_dir():
        return
    # delete() issues no certificate, so the driver needs no CA here
    driver = LocalComputeDriver(root, cast(CertificateDriver, None), link_dir=link_dir, stop_timeout=5.0)
    for entry in root.iterdir():
        if entry.is_dir() and not entry.name.startswith("."):
            driver.delete(entry.name)
