"""HAProxy for each load balancer of this amphora: stage and check configs, start/adopt/reload/stop.

One master-worker HAProxy per load balancer, daemonized (-D) into its own session so it outlives the agent:
    [ip netns exec NS] haproxy -W -S <lb>/master.sock -D -f <lb>/haproxy.cfg -p <lb>/haproxy.pid -L <peer name>
Reloads go through the master CLI (`reload`), which re-executes the master with the same command line and
hands the listening sockets to the new worker, so no connection is refused. HAProxy 2.6 answers `reload`
with nothing; `show proc` (reload counter, worker pids, failed count) tells whether it worked.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ostia import process
from ostia.agent import procs
from ostia.agent.errors import AgentError
from ostia.agent.files import RESERVED, unlink_quiet
from ostia.agent.settings import AgentSettings
from ostia.domain.peers import peer_name
from ostia.files import write_private

LOG = logging.getLogger(__name__)
_START_WAIT = 10.0  # seconds for a started/reloaded master to show a new worker
_STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL


def parse_frontends(text: str) -> dict[str, str]:
    """`frontend <id>` sections of a haproxy.cfg → {id: "TCP"|"HTTP"|"TERMINATED_HTTPS"}."""
    out: dict[str, str] = {}
    section, current, default_mode = "", None, "TCP"  # HAProxy's mode unless a defaults section sets one
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if not line[0].isspace():  # a section header ends the previous section
            section = words[0]
            current = words[1] if section == "frontend" and len(words) > 1 else None
            if current is not None:
                out[current] = default_mode
        elif section == "defaults" and words[0] == "mode" and len(words) > 1:
            default_mode = words[1].upper()
        elif current is not None and words[0] == "mode" and len(words) > 1 and out[current] != "TERMINATED_HTTPS":
            out[current] = words[1].upper()
        elif current is not None and words[0] == "bind" and "ssl" in words[2:]:
            out[current] = "TERMINATED_HTTPS"
    return out


@dataclass(frozen=True)
class ProcInfo:
    master_pid: int
    reloads: int
    failed: int
    workers: tuple[int, ...]
    old_workers: tuple[int, ...]


def parse_show_proc(text: str) -> ProcInfo | None:
    """Parse the master CLI's `show proc` table (2.6 layout: `<pid> <type> <reloads> [failed: N] ...`)."""
    master: tuple[int, int, int] | None = None
    workers: list[int] = []
    old: list[int] = []
    section = "master"
    for line in text.splitlines():
        if line.startswith("#"):
            section = "old" if "old workers" in line else "workers" if "workers" in line else \
                "programs" if "programs" in line else section
            continue
        fields = line.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        pid = int(fields[0])
        if fields[1] == "master":
            failed = 0
            if "[failed:" in line:
                failed = int(line.split("[failed:")[1].split("]")[0])
            master = (pid, int(fields[2]), failed)
        elif fields[1] == "worker":
            (old if section == "old" else workers).append(pid)
    if master is None:
        return None
    return ProcInfo(master[0], master[1], master[2], tuple(workers), tuple(old))


class HaproxyManager:
    def __init__(self, settings: AgentSettings) -> None:
        self.s = settings
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._version: str | None = None

    # -- paths ---------------------------------------------------------------------------------------------

    def lb_dir(self, lb_id: str) -> Path:
        return self.s.base_path / lb_id

    def config_path(self, lb_id: str) -> Path:
        return self.lb_dir(lb_id) / "haproxy.cfg"

    def pid_file(self, lb_id: str) -> Path:
        return self.lb_dir(lb_id) / "haproxy.pid"

    def master_socket(self, lb_id: str) -> Path:
        return self.lb_dir(lb_id) / "master.sock"

    def stats_socket(self, lb_id: str) -> Path:
        return self.s.base_path / f"{lb_id}.sock"  # where the controller's renderer puts it

    def lock(self, lb_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(lb_id, threading.Lock())

    def listeners(self, lb_id: str) -> dict[str, str]:
        """Listener id → type, read from the applied haproxy.cfg (Octavia's agent reads the file, not the stats
        socket): one per `frontend` section, its `mode` upper-cased, TERMINATED_HTTPS when it binds with TLS."""
        try:
            text = self.config_path(lb_id).read_text(errors="replace")
        except OSError:
            return {}
        return parse_frontends(text)

    def lb_ids(self) -> list[str]:
        if not self.s.base_path.is_dir():
            return []
        return sorted(p.name for p in self.s.base_path.iterdir()
                      if p.name not in RESERVED and (p / "haproxy.cfg").is_file())

    # -- configuration -------------------------------------------------------------------------------------

    def version(self) -> str:
        if self._version is None:
            out = procs.run([self.s.haproxy_cmd, "-v"], timeout=10).output
            # "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
            words = out.split()
            self._version = words[2] if len(words) > 2 and words[1] == "version" else "unknown"
        return self._version

    def local_peer(self) -> list[str]:
        """`-L <own peer name>`: which entry of an ACTIVE_STANDBY config's peers section this HAProxy is (else
        HAProxy takes the hostname, finds no such peer and drops the section: stick tables stay unsynced)."""
        return ["-L", peer_name(self.s.amphora_id)] if self.s.amphora_id else []

    def check(self, path: Path) -> procs.Result:
        # Inside the namespace, so `namespace`-less binds and interface names are judged where they will run.
        return procs.run([self.s.haproxy_cmd, "-c", "-f", str(path), *self.local_peer()], self.s.command_timeout,
                         self.s.network_namespace)

    def put_config(self, lb_id: str, body: bytes) -> None:
        """Stage, check and swap in a new haproxy.cfg; a bad one never replaces the running one."""
        with self.lock(lb_id):
            lb_dir = self.lb_dir(lb_id)
            lb_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            staged = lb_dir / "haproxy.cfg.new"
            write_private(staged, body)
            result = self.check(staged)
            if not result.ok:
                staged.replace(lb_dir / "haproxy.cfg.new-failed")  # kept for the operator to read
                raise AgentError(400, "Invalid request", result.output)
            unlink_quiet(lb_dir / "haproxy.cfg.new-failed")
            cfg = self.config_path(lb_id)
            if cfg.is_file() and self.master_pid(lb_id) is not None:
                # What the running HAProxy serves: put back if the reload of the new file fails (a bind that
                # `haproxy -c` cannot test, e.g. a port in use), so the file on disk always matches it.
                os.replace(cfg, lb_dir / "haproxy.cfg.running")
            staged.replace(cfg)

    # -- processes -----------------------------------------------------------------------------------------

    def master_pid(self, lb_id: str) -> int | None:
        """The live master of this LB per its pid file; a recycled pid running something else does not count."""
        pid = process.read_pid(self.pid_file(lb_id))
        if pid is None or not process.alive(pid):
            return None
        return pid if str(self.master_socket(lb_id)) in process.cmdline(pid) else None

    def show_proc(self, lb_id: str) -> ProcInfo | None:
        try:
            return parse_show_proc(procs.unix_command(self.master_socket(lb_id), "show proc"))
        except OSError:
            return None

    def start(self, lb_id: str) -> str:
        with self.lock(lb_id):
            return self._start(lb_id)

    def _start(self, lb_id: str) -> str:
        pid = self.master_pid(lb_id)
        if pid is not None:
            # Started by an earlier agent process (or already by us): adopt it, never run a second one,
            # which would bind the same ports through SO_REUSEPORT and split the traffic.
            return f"haproxy daemon for {lb_id} already running (pid {pid})"
        cfg = self.config_path(lb_id)
        if not cfg.is_file():
            raise AgentError(404, "Loadbalancer Not Found", f"no configuration for {lb_id}")
        unlink_quiet(self.pid_file(lb_id))
        # Master-worker reloads re-execute this command line, so -L holds for every later worker too.
        argv = [self.s.haproxy_cmd, "-W", "-S", str(self.master_socket(lb_id)), "-D", "-f", str(cfg),
                "-p", str(self.pid_file(lb_id)), *self.local_peer()]
        log_path = self.lb_dir(lb_id) / "haproxy.log"
        with open(log_path, "ab") as log:
            offset = log.tell()
            # A file, not a pipe, for output: the daemon inherits it and a pipe would never reach EOF.
            # Its own session, so signals aimed at the agent's process group never reach HAProxy.
            proc = subprocess.run(procs.in_netns(self.s.network_namespace, argv), stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log, timeout=self.s.command_timeout,
                                  start_new_session=True, check=False)
        output = _tail(log_path, offset)
        if proc.returncode != 0:
            raise AgentError(500, "Error starting haproxy", output)
        info = self._wait(lambda i: bool(i.workers), lb_id)
        if info is None:
            raise AgentError(500, "Error starting haproxy", output + "\nno worker came up")
        LOG.info("lb=%s haproxy started (master %s)", lb_id, info.master_pid)
        return f"Configuration file is valid\nhaproxy daemon for {lb_id} started"

    def reload(self, lb_id: str) -> str:
        with self.lock(lb_id):
            if self.master_pid(lb_id) is None:
                return self._start(lb_id)  # as Octavia: reloading a stopped LB starts it
            before = self.show_proc(lb_id)
            if before is None:
                raise AgentError(500, "Error reloading haproxy", "master CLI does not answer")
            self._save_server_state(lb_id)
            try:
                procs.unix_command(self.master_socket(lb_id), "reload")
            except OSError as exc:  # the master re-executes and may drop the connection: fine
                LOG.debug("lb=%s reload: %s", lb_id, exc)
            after = self._wait(lambda i: i.reloads > before.reloads and
                               (i.failed > 0 or bool(set(i.workers) - set(before.workers))), lb_id)
            if after is None or after.failed > 0:
                details = "" if after is None else f"reload {after.reloads} failed ({after.failed})"
                self._restore_running(lb_id)
                raise AgentError(500, "Error reloading haproxy", details + _tail(self.lb_dir(lb_id) / "haproxy.log"))
            unlink_quiet(self.lb_dir(lb_id) / "haproxy.cfg.running")
            LOG.info("lb=%s haproxy reloaded (reloads=%s workers=%s)", lb_id, after.reloads, after.workers)
            return f"Listener {lb_id} reloaded"

    def _restore_running(self, lb_id: str) -> None:
        """The reload was refused: the old workers still serve the previous file, so it becomes current again."""
        running = self.lb_dir(lb_id) / "haproxy.cfg.running"
        if running.is_file():
            os.replace(self.config_path(lb_id), self.lb_dir(lb_id) / "haproxy.cfg.new-failed")
            os.replace(running, self.config_path(lb_id))
            LOG.warning("lb=%s reload failed: the previous configuration is current again", lb_id)

    def stop(self, lb_id: str) -> str:
        with self.lock(lb_id):
            return self._stop(lb_id)

    def _stop(self, lb_id: str) -> str:
        pid = self.master_pid(lb_id)
        if pid is None:
            unlink_quiet(self.pid_file(lb_id))
            return f"Listener {lb_id} stopped"
        info = self.show_proc(lb_id)
        if process.terminate([pid], _STOP_GRACE):
            raise AgentError(500, "Error stopping haproxy", f"master {pid} survived SIGKILL")
        # Workers exit with their master; make sure of it (bounded) so no port stays bound.
        if info is not None:
            process.terminate([*info.workers, *info.old_workers], 2.0)
        unlink_quiet(self.pid_file(lb_id))
        unlink_quiet(self.master_socket(lb_id))
        LOG.info("lb=%s haproxy stopped (master %s)", lb_id, pid)
        return f"Listener {lb_id} stopped"

    def remove(self, lb_id: str) -> None:
        """Stop the LB's HAProxy and forget it: its directory, certificates and stats socket."""
        with self.lock(lb_id):
            self._stop(lb_id)
            shutil.rmtree(self.lb_dir(lb_id), ignore_errors=True)
            shutil.rmtree(self.s.cert_path / lb_id, ignore_errors=True)
            unlink_quiet(self.stats_socket(lb_id))

    # -- helpers -------------------------------------------------------------------------------------------

    def _wait(self, done: Callable[[ProcInfo], bool], lb_id: str) -> ProcInfo | None:
        deadline = time.monotonic() + _START_WAIT
        last: ProcInfo | None = None
        while time.monotonic() < deadline:
            info = self.show_proc(lb_id)
            if info is not None:
                last = info
                if done(info):
                    return info
            time.sleep(0.05)
        LOG.warning("lb=%s haproxy did not settle: %s", lb_id, last)
        return None

    def _save_server_state(self, lb_id: str) -> None:
        """Let the next worker start from the current server states (load-server-state-from-file)."""
        sock = self.stats_socket(lb_id)
        if not sock.exists():
            return
        try:
            state = procs.unix_command(sock, "show servers state")
        except OSError as exc:
            LOG.debug("lb=%s no server state saved: %s", lb_id, exc)
            return
        write_private(self.lb_dir(lb_id) / "servers-state", state.encode())


def _tail(path: Path, offset: int = 0, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")[-limit:]
    except OSError:
        return ""
