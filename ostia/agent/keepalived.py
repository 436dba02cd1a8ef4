"""keepalived (VRRP only) for ACTIVE_STANDBY: one instance per amphora, inside its network namespace.

    [ip netns exec NS] keepalived -n -l -D -G -P -f vrrp/keepalived.conf -p .. -r .. -c ..
runs in the foreground of its own session (logging to vrrp/keepalived.log); the pid files are its own so
several amphorae on one host never share them. Like HAProxy it survives an agent restart and is found
again through its pid file.

An uploaded configuration is staged and checked with `keepalived -t` inside the namespace (interface names are
only real there) before it replaces the current one. The upload also (re)writes the track script keepalived
runs every second (`vrrp/check_haproxy`, see CHECK_SCRIPT): it exits non-zero unless the stats socket of every
load balancer on this amphora answers `show info`, so an amphora whose HAProxy died gives up the VIP.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ostia import process
from ostia.agent import procs
from ostia.agent.errors import AgentError
from ostia.agent.files import RESERVED, unlink_quiet
from ostia.agent.interfaces import Interfaces
from ostia.agent.settings import AgentSettings
from ostia.domain.vrrp import CHECK_SCRIPT
from ostia.files import write_private

LOG = logging.getLogger(__name__)
_START_WAIT = 5.0

# Run by keepalived (as root, script security on) once per check interval, so it starts fast: an isolated
# interpreter without site packages, standard library only.
CHECK_SCRIPT_TEXT = """#!%(python)s -IS
# keepalived track script written by the Ostia agent of amphora %(amphora_id)s.
# Exit 0 when every load balancer's HAProxy answers `show info` on its stats socket (or there is none),
# 1 otherwise: keepalived then leaves MASTER state and the peer takes the VIP.
import os
import socket
import sys

BASE = %(base)r
RESERVED = %(reserved)r


def answers(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(path)
            sock.sendall(b"show info\\n")
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while len(data) < 65536:
                chunk = sock.recv(8192)
                if not chunk:
                    break
                data += chunk
        return b"Pid:" in data
    except OSError:
        return False


lbs = [n for n in os.listdir(BASE) if n not in RESERVED and os.path.isfile(os.path.join(BASE, n, "haproxy.cfg"))]
dead = [n for n in lbs if not answers(os.path.join(BASE, n + ".sock"))]
if dead:
    print("HAProxy does not answer for", " ".join(dead))
    sys.exit(1)
sys.exit(0)
"""


class Keepalived:
    def __init__(self, settings: AgentSettings) -> None:
        self.s = settings
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None  # reaped on stop

    @property
    def dir(self) -> Path:
        return self.s.vrrp_path

    @property
    def config(self) -> Path:
        return self.dir / "keepalived.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "keepalived.pid"

    @property
    def check_script(self) -> Path:
        return self.s.base_path / CHECK_SCRIPT

    def upload(self, body: bytes) -> None:
        """Stage, test (`keepalived -t` in the namespace) and swap in; a bad file never replaces a good one."""
        with self._lock:
            self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            self.write_check_script()
            staged = self.dir / "keepalived.conf.new"
            write_private(staged, body)
            result = procs.run([self.s.keepalived_cmd, "-t", "-l", "-n", "-f", str(staged)],
                               self.s.command_timeout, self.s.network_namespace)
            if not result.ok:
                staged.replace(self.dir / "keepalived.conf.new-failed")  # kept for the operator to read
                raise AgentError(400, "Invalid request", result.output[-4000:])
            unlink_quiet(self.dir / "keepalived.conf.new-failed")
            staged.replace(self.config)

    def write_check_script(self) -> None:
        # keepalived's script security wants it root-owned and writable by nobody else (0755).
        text = CHECK_SCRIPT_TEXT % {"python": sys.executable, "amphora_id": self.s.amphora_id,
                                    "base": str(self.s.base_path), "reserved": sorted(RESERVED)}
        write_private(self.check_script, text.encode(), mode=0o755)

    def running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        return self._ours(process.read_pid(self.pid_file))

    def _ours(self, pid: int | None) -> int | None:
        """The pid when it is a live keepalived of this amphora; a recycled pid running something else is not."""
        if pid is None or not process.alive(pid):
            return None
        return pid if str(self.config) in process.cmdline(pid) else None

    def start(self) -> str:
        with self._lock:
            pid = self.pid()
            if pid is not None:  # as Octavia: start on a running keepalived reloads it
                os.kill(pid, signal.SIGHUP)
                return "keepalived reloaded"
            if not self.config.is_file():
                raise AgentError(400, "No keepalived configuration", "PUT /1.0/vrrp/upload first")
            argv = [self.s.keepalived_cmd, "-n", "-l", "-D", "-G", "-P", "-f", str(self.config),
                    "-p", str(self.pid_file), "-r", str(self.dir / "vrrp.pid"),
                    "-c", str(self.dir / "checkers.pid")]
            with open(self.dir / "keepalived.log", "ab") as log:
                self._child = subprocess.Popen(procs.in_netns(self.s.network_namespace, argv),
                                               stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                               start_new_session=True)
            deadline = time.monotonic() + _START_WAIT
            while time.monotonic() < deadline:
                if self.pid() is not None:
                    LOG.info("amp=%s keepalived started", self.s.amphora_id)
                    return "keepalived started"
                if self._child.poll() is not None:
                    break
                time.sleep(0.05)
            log_text = (self.dir / "keepalived.log").read_text(errors="replace")[-4000:]
            self._stop_locked()
            raise AgentError(500, "Error starting keepalived", log_text)

    def reload(self) -> str:
        with self._lock:
            pid = self.pid()
            if pid is not None:
                os.kill(pid, signal.SIGHUP)
                return "keepalived reloaded"
        return self.start()

    def stop(self) -> str:
        with self._lock:
            self._stop_locked()
            return "keepalived stopped"

    def _stop_locked(self) -> None:
        pids = [p for p in (self.pid(), self._ours(process.read_pid(self.dir / "vrrp.pid"))) if p is not None]
        if self._child is not None and self._child.poll() is None:
            pids.append(self._child.pid)
        if pids and process.terminate(pids, 5.0):
            raise AgentError(500, "Error stopping keepalived", f"pids {pids} survived SIGKILL")
        if self._child is not None:
            try:
                self._child.wait(5)
            except subprocess.TimeoutExpired:
                LOG.warning("keepalived launcher %s did not exit", self._child.pid)
            self._child = None


def release_stale_vips(settings: AgentSettings, keepalived: Keepalived, interfaces: Interfaces) -> list[str]:
    """ACTIVE_STANDBY without a running keepalived: no VIP may stay configured here (machine-notes §4 scenario
    B: a SIGKILLed keepalived leaves the VIP on eth1 while the peer takes it over). Returns what was removed."""
    if settings.topology == "SINGLE" or not settings.network_namespace or keepalived.running():
        return []
    try:
        return interfaces.drop_vips()
    except AgentError as exc:  # e.g. the namespace is gone: nothing is served from it either
        LOG.warning("amp=%s could not check for left-over VIPs: %s", settings.amphora_id, exc.details)
        return []
