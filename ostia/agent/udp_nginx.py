"""One nginx process per UDP listener: config test, start, graceful reload, stop, found by its pid file.

Files live in `<base_path>/udp/<listener_id>/`: nginx.conf (the running config), nginx.conf.new (staged, kept as
nginx.conf.rejected when `nginx -t` refuses it), nginx.pid (the master's pid, written by nginx) and error.log.
nginx runs as a daemon (`daemon on`), so it outlives the agent; a new agent finds it again by the pid file.
With a network namespace every nginx command runs under `ip netns exec <ns>`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ostia.render.nginx import NginxPaths

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
DRAIN_WAIT = 2.0


class NginxError(Exception):
    """nginx refused a config or did not start/reload; the message is nginx's own words where there are any."""


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class NginxProcess:
    def __init__(self, directory: Path, namespace: str | None) -> None:
        self.dir = directory
        self.namespace = namespace
        self.conf = directory / "nginx.conf"
        self.staged = directory / "nginx.conf.new"
        self.rejected = directory / "nginx.conf.rejected"
        self.pid_file = directory / "nginx.pid"
        self.error_log = directory / "error.log"

    @property
    def paths(self) -> NginxPaths:
        return NginxPaths(pid_file=str(self.pid_file), error_log=str(self.error_log))

    def _command(self, *args: str) -> list[str]:
        prefix = ["ip", "netns", "exec", self.namespace] if self.namespace else []
        return [*prefix, NGINX, *args]

    def _run(self, *args: str, conf: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._command(*args, "-c", str(conf), "-e", str(self.error_log), "-p", str(self.dir)),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)

    def stage(self, text: str) -> None:
        """Write the candidate config and have `nginx -t` judge it; raises NginxError with nginx's message.
        `nginx -t` also binds the listen addresses (only "address in use" is forgiven), which is one more reason
        it runs in the namespace that holds the VIPs."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        done = self._run("-t", "-q", conf=self.staged)
        if done.returncode != 0:
            os.replace(self.staged, self.rejected)  # kept for whoever debugs it
            raise NginxError((done.stderr or done.stdout).strip() or f"nginx -t exited {done.returncode}")

    def swap(self) -> None:
        os.replace(self.staged, self.conf)

    def pid(self) -> int | None:
        """The running master's pid, or None (no pid file, a stale one, or a pid that is not nginx)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"nginx" in cmdline and _alive(pid) else None

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return ""

    def start(self) -> int:
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()  # a stale pid must not pass for the new master
        done = self._run(conf=self.conf)
        if done.returncode != 0:
            raise NginxError((done.stderr or done.stdout).strip() or self._log_tail())
        # `daemon on`: the command returns when the master has forked; the master writes its pid file after.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid is not None:
                return pid
            time.sleep(0.02)
        raise NginxError(f"nginx did not start: {self._log_tail()}")

    def reload(self) -> None:
        """Graceful reload (SIGHUP): new workers on the new config, old ones finish their sessions. Waits for a
        new worker, which is how nginx says the config was applied (a failed reload keeps the old workers)."""
        pid = self.pid()
        if pid is None:
            self.start()
            return
        before = _children(pid)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT
        while not _children(pid) - before:
            if time.monotonic() > deadline:
                raise NginxError(f"nginx did not reload: {self._log_tail()}")
            time.sleep(0.02)
        # Old workers keep reading the shared UDP socket until they act on the master's QUIT; give them a moment
        # so that traffic after this call sees the new config. Ones still finishing sessions are left to drain.
        deadline = time.monotonic() + DRAIN_WAIT
        while time.monotonic() < deadline and any(_alive(w) for w in before):
            time.sleep(0.02)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        workers = _children(pid)
        os.kill(pid, signal.SIGTERM)  # fast shutdown: the listener is being deleted
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and (_alive(pid) or any(_alive(w) for w in workers)):
            time.sleep(0.02)
        for p in (pid, *workers):
            if _alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
