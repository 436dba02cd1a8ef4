"""ostia/deploy/supervisor.py with real child processes: a child that dies is started again after a back-off
that doubles while it keeps dying, stop_all() stops every child, and a killed supervisor's leftovers are stopped
by the next one before it starts its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ostia import process
from ostia.deploy.supervisor import Policy, Service, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)  # ostia-test"]
DIES = [sys.executable, "-c", "raise SystemExit(3)"]


def _supervisor(tmp_path: Path, *services: Service, **policy: float) -> Supervisor:
    sup = Supervisor(services, tmp_path / "logs", tmp_path / "run", Policy(**policy))
    sup.run_dir.mkdir()
    sup.log_dir.mkdir()
    return sup


def test_back_off_doubles_while_a_service_keeps_dying_and_is_capped() -> None:
    policy = Policy(restart_delay=1.0, restart_delay_max=5.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_child_that_dies_is_started_again_and_its_pid_file_follows(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path, Service("sleeper", SLEEPER), Service("dies", DIES), restart_delay=0.2,
                      stable_seconds=30)
    try:
        sup.step()
        sleeper, dies = sup.services
        first = sleeper.popen.pid if sleeper.popen else 0
        assert process.read_pid(sup.pid_file("sleeper")) == first
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (dies.starts < 3 or sleeper.starts < 2):
            sup.step()
            time.sleep(0.05)
        assert sleeper.starts == 2 and sleeper.popen is not None and sleeper.popen.pid != first
        assert process.read_pid(sup.pid_file("sleeper")) == sleeper.popen.pid
        assert dies.starts >= 3 and dies.quick_deaths >= 2  # the back-off grows: 0.2 s, 0.4 s, ...
    finally:
        sup.stop_all()
    assert not process.alive(sleeper.popen.pid if sleeper.popen else first)
    assert not sup.pid_file("sleeper").exists()


def test_leftovers_of_a_killed_supervisor_are_stopped_before_new_children_start(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path, Service("sleeper", SLEEPER), stop_timeout=5)
    orphan = subprocess.Popen([*SLEEPER[:2], "import time; time.sleep(60)  # ostia"], start_new_session=True)
    try:
        sup.pid_file("sleeper").write_text(f"{orphan.pid}\n")
        sup.stop_leftovers()
        assert orphan.wait(5) == -signal.SIGTERM
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
