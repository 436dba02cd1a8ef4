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

import pytest

from ostia import process
from ostia.deploy.supervisor import AlreadyRunning, Policy, Service, Supervisor

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


def test_a_service_that_cannot_be_started_is_retried_and_the_others_run(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path, Service("broken", [str(tmp_path / "no-such-program")]), Service("sleeper", SLEEPER),
                      restart_delay=0.2)
    try:
        sup.step()  # raised out of the supervisor's loop before, which then stopped every service
        broken, sleeper = sup.services
        assert broken.popen is None and broken.next_start > 0 and sleeper.popen is not None
    finally:
        sup.stop_all()


def test_leftovers_of_a_killed_supervisor_are_stopped_before_new_children_start(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path, Service("sleeper", SLEEPER), stop_timeout=5)
    orphan = subprocess.Popen([*SLEEPER[:2], "import time; time.sleep(60)  # ostia"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10  # until the child has exec'd (before, /proc shows our command line)
        while not any("# ostia" in a for a in process.cmdline(orphan.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        sup.pid_file("sleeper").write_text(f"{orphan.pid}\n")
        sup.stop_leftovers()
        assert orphan.wait(5) == -signal.SIGTERM
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_second_supervisor_on_the_same_run_dir_refuses_and_leaves_the_first_ones_children(
        tmp_path: Path) -> None:
    sup = _supervisor(tmp_path, Service("sleeper", SLEEPER), stop_timeout=5)
    first = subprocess.Popen([*SLEEPER[:2], "import time; time.sleep(60)  # ostia deploy"], start_new_session=True)
    child = subprocess.Popen([*SLEEPER[:2], "import time; time.sleep(60)  # ostia"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10  # until both have exec'd (before, /proc shows our command line)
        while time.monotonic() < deadline and not all(
                any("# ostia" in a for a in process.cmdline(p.pid)) for p in (first, child)):
            time.sleep(0.01)
        sup.pid_file("deploy").write_text(f"{first.pid}\n")
        sup.pid_file("sleeper").write_text(f"{child.pid}\n")
        sup.stop()  # so that run() returns at once if it does not refuse
        with pytest.raises(AlreadyRunning):
            sup.run()
        assert first.poll() is None and child.poll() is None
        assert sup.services[0].popen is None
        assert process.read_pid(sup.pid_file("deploy")) == first.pid
    finally:
        for p in (first, child):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_deploy_runs_one_api_per_port_and_one_health_manager_per_controller_address() -> None:
    from ostia import conf as conf_mod
    from ostia.cli import deploy_cmd

    conf = conf_mod.load([], {"DEFAULT": {"transport_url": "rabbit://guest:guest@127.0.0.1:5672/"},
                              "database": {"connection": "postgresql+psycopg://postgres@127.0.0.1/ostia"},
                              "health_manager": {"controller_ip_port_list": ["127.0.0.1:5555", "[::1]:5556"]},
                              "deploy": {"api_bind_ports": [9886, 9887], "workers": 3, "housekeeping": False}})
    assert deploy_cmd.check(conf) is None
    services = {s.name: s.argv[3:] for s in deploy_cmd.services(conf, ["ostia", "--config-file", "p.conf"])}
    assert services == {
        "api-1": ["--set", "api_settings.bind_port=9886", "api"],
        "api-2": ["--set", "api_settings.bind_port=9887", "api"],
        "worker-1": ["worker"], "worker-2": ["worker"], "worker-3": ["worker"],
        "health-manager-1": ["--set", "health_manager.bind_ip=127.0.0.1", "--set", "health_manager.bind_port=5555",
                             "health-manager"],
        "health-manager-2": ["--set", "health_manager.bind_ip=::1", "--set", "health_manager.bind_port=5556",
                             "health-manager"]}


def test_deploy_gives_each_worker_and_health_manager_its_own_metrics_port() -> None:
    from ostia import conf as conf_mod
    from ostia.cli import deploy_cmd

    conf = conf_mod.load([], {"DEFAULT": {"transport_url": "rabbit://guest:guest@127.0.0.1:5672/"},
                              "database": {"connection": "postgresql+psycopg://postgres@127.0.0.1/ostia"},
                              "health_manager": {"controller_ip_port_list": ["127.0.0.1:5555", "127.0.0.1:5556"],
                                                 "metrics_bind": "127.0.0.1:9200"},
                              "controller_worker": {"metrics_bind": "[::1]:9100"},
                              "deploy": {"workers": 2, "housekeeping": False}})
    binds = {s.name: [a for a in s.argv if "metrics_bind=" in a]
             for s in deploy_cmd.services(conf, ["ostia"]) if not s.name.startswith("api")}
    assert binds == {"worker-1": ["controller_worker.metrics_bind=[::1]:9100"],
                     "worker-2": ["controller_worker.metrics_bind=[::1]:9101"],
                     "health-manager-1": ["health_manager.metrics_bind=127.0.0.1:9200"],
                     "health-manager-2": ["health_manager.metrics_bind=127.0.0.1:9201"]}


def test_deploy_refuses_sqlite_and_a_missing_transport_url() -> None:
    from ostia import conf as conf_mod
    from ostia.cli import deploy_cmd

    assert "transport_url" in (deploy_cmd.check(conf_mod.load()) or "")
    sqlite = conf_mod.load([], {"DEFAULT": {"transport_url": "rabbit://guest:guest@127.0.0.1:5672/"}})
    assert "SQLite" in (deploy_cmd.check(sqlite) or "")
