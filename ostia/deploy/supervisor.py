"""A small process supervisor for `ostia deploy`: each controller service its own process, restarted when it dies.

What systemd would do with one unit per service and Restart=always: start every child (in a session of its own,
so a Ctrl-C on the terminal reaches only the supervisor, which then stops them in order), append each child's
output to <log_dir>/<name>.log, keep <run_dir>/<name>.pid current, start a child that died again after a
back-off that doubles while it keeps dying quickly, and on SIGTERM/SIGINT stop them all (SIGTERM, then SIGKILL
after stop_timeout). Nothing here knows what the services do: a service is a name and an argv.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ostia import process

LOG = logging.getLogger("ostia.deploy")
POLL = 0.2  # seconds between looks at the children
SUPERVISOR = "deploy"  # the supervisor's own pid file: <run_dir>/deploy.pid


class AlreadyRunning(RuntimeError):
    """Another supervisor runs with this run_dir: starting a second one would stop its children as
    leftovers while it restarts them, and both would fight over the ports."""


@dataclasses.dataclass
class Service:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0  # deaths in a row, each after less than stable_seconds of running
    next_start: float = 0.0
    starts: int = 0


@dataclasses.dataclass(frozen=True)
class Policy:
    restart_delay: float = 1.0
    restart_delay_max: float = 30.0
    stable_seconds: float = 10.0
    stop_timeout: float = 15.0

    def delay(self, quick_deaths: int) -> float:
        """Back-off before the next start: restart_delay, doubled per further quick death, capped."""
        return min(self.restart_delay * 2 ** max(quick_deaths - 1, 0), self.restart_delay_max)


def _ostia_alive(pid: int) -> bool:
    """A recorded pid still names one of ours: alive, with an `ostia` command line (pids are reused)."""
    return process.alive(pid) and any("ostia" in a for a in process.cmdline(pid))


class Supervisor:
    def __init__(self, services: Sequence[Service], log_dir: Path, run_dir: Path, policy: Policy,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.services = list(services)
        self.log_dir, self.run_dir, self.policy, self.clock = log_dir, run_dir, policy, clock
        self.stopping = threading.Event()

    # -- pid files ----------------------------------------------------------------------------------------
    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _write_pid(self, name: str, pid: int) -> None:
        tmp = self.pid_file(name).with_suffix(".pid.tmp")
        tmp.write_text(f"{pid}\n")
        tmp.replace(self.pid_file(name))  # readers never see a half-written file

    def running_supervisor(self) -> int | None:
        """The pid of another live supervisor recorded in this run_dir (None: none runs)."""
        pid = process.read_pid(self.pid_file(SUPERVISOR))
        if pid is not None and pid != os.getpid() and _ostia_alive(pid):
            return pid
        return None

    def stop_leftovers(self) -> None:
        """Children of a supervisor that was killed (SIGKILL leaves them running) still hold the ports: stop
        them before starting new ones. A pid is only trusted if the process's command line is an `ostia` one."""
        pids = []
        for service in self.services:
            pid = process.read_pid(self.pid_file(service.name))
            if pid is not None and _ostia_alive(pid):
                LOG.warning("%s: stopping pid %d left by a previous supervisor", service.name, pid)
                pids.append(pid)
        process.terminate(pids, self.policy.stop_timeout)

    # -- children -----------------------------------------------------------------------------------------
    def start(self, service: Service) -> None:
        with (self.log_dir / f"{service.name}.log").open("ab") as log:
            service.popen = subprocess.Popen(service.argv, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        service.started_at = self.clock()
        service.starts += 1
        self._write_pid(service.name, service.popen.pid)
        LOG.info("%s started (pid %d)", service.name, service.popen.pid)

    def _reap(self, service: Service, now: float) -> None:
        assert service.popen is not None
        code = service.popen.poll()
        if code is None:
            return
        ran = now - service.started_at
        service.quick_deaths = 0 if ran >= self.policy.stable_seconds else service.quick_deaths
        service.quick_deaths += 1
        delay = self.policy.delay(service.quick_deaths)
        service.next_start = now + delay
        service.popen = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file(service.name).unlink()
        LOG.error("%s exited with %s after %.1f s; starting it again in %.1f s", service.name, code, ran, delay)

    def step(self) -> None:
        """One look at every child: reap the dead, start those whose back-off is over."""
        now = self.clock()
        for service in self.services:
            if service.popen is not None:
                self._reap(service, now)
            if service.popen is None and now >= service.next_start and not self.stopping.is_set():
                try:
                    self.start(service)
                except OSError as exc:  # fork/exec failed (EAGAIN, ENOMEM, ...): retried, the others keep running
                    service.quick_deaths += 1
                    delay = self.policy.delay(service.quick_deaths)
                    service.next_start = now + delay
                    LOG.error("%s could not be started (%s); trying again in %.1f s", service.name, exc, delay)

    def run(self) -> None:
        """Until stop() (or SIGTERM/SIGINT, when installed by the caller), then stop every child."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        other = self.running_supervisor()
        if other is not None:
            raise AlreadyRunning(f"another supervisor (pid {other}) runs with {self.run_dir}")
        self._write_pid(SUPERVISOR, os.getpid())
        self.stop_leftovers()
        try:
            while not self.stopping.is_set():
                self.step()
                self.stopping.wait(POLL)
        finally:
            self.stop_all()

    def stop(self) -> None:
        self.stopping.set()

    def stop_all(self) -> None:
        running = [s for s in self.services if s.popen is not None and s.popen.poll() is None]
        for s in running:
            assert s.popen is not None
            with contextlib.suppress(ProcessLookupError):
                s.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_timeout
        for s in running:
            assert s.popen is not None
            try:
                s.popen.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                LOG.warning("%s did not stop in %.0f s: SIGKILL", s.name, self.policy.stop_timeout)
                s.popen.kill()
                s.popen.wait(10)
        for s in self.services:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file(s.name).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.pid_file(SUPERVISOR).unlink()
        LOG.info("every service stopped")
