"""keepalived (VRRP only) for ACTIVE_STANDBY: one instance per amphora, inside its network namespace.

    [ip netns exec NS] keepalived -n -l -D -G -P -f vrrp/keepalived.conf -p .. -r .. -c ..
runs in the foreground of its own session (logging to vrrp/keepalived.log); the pid files are its own so
several amphorae on one host never share them. Like HAProxy it survives an agent restart and is found
again through its pid file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from ostia import process
from ostia.agent import procs
from ostia.agent.errors import AgentError
from ostia.agent.settings import AgentSettings
from ostia.files import write_private

LOG = logging.getLogger(__name__)
_START_WAIT = 5.0


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

    def upload(self, body: bytes) -> None:
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        write_private(self.config, body)

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
