"""Housekeeping: expired DELETED rows removed (young ones and live ones kept) on every database, abandoned jobs
recovered by the periodic sweep after a real worker process is SIGKILLed, two sweepers never running a job
twice, one failing task not stopping the others, and `ostia housekeeping` as a process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from ostia.cli import housekeeping_cmd
from ostia.db.models import (
    AdditionalVip,
    Amphora,
    AmphoraHealth,
    FailoverEvent,
    Job,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Pool,
    utcnow,
)
from ostia.domain.enums import AmphoraStatus, JobState
from ostia.housekeeping.cleanup import DatabaseCleanup
from ostia.housekeeping.service import HousekeepingService
from ostia.jobs.inproc import InProcessDispatcher
from tests.functional import test_job_recovery
from tests.functional.test_job_recovery import Env
from tests.support.controller import Api, running_controller
from tests.support.databases import BACKENDS, fresh_database
from tests.support.failover import wait_for
from tests.support.processes import NOOP_DRIVERS

EXPIRY = 3600
OLD = dt.timedelta(seconds=2 * EXPIRY)
# The sweeping side: frequent sweeps, no spare pool. Its workers are not started (their own sweep would compete
# with the service's), so nothing renews their leases: 30 s outlasts any flow here.
SWEEPER = {"jobs": {"lease_seconds": 30, "sweep_interval": 0.2}, "house_keeping": {"spare_amphora_pool_size": 0}}
# Waits for a started process are long: importing the worker takes seconds on a loaded 2-core machine.


def count(db: Any, model: Any, *where: Any) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture(params=BACKENDS)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, str(tmp_path)) as url:
        yield url


def test_cleanup_removes_expired_deleted_rows_and_keeps_the_rest(any_db: str, tmp_path: Path) -> None:
    with running_controller(any_db, str(tmp_path / "state")) as ctl, TestClient(ctl.app) as client:
        api = Api(client)
        # Deleted through the API and the worker, as in real life: the rows a real delete leaves behind.
        old = api.create_lb(name="old", listeners=[{"protocol": "HTTP", "protocol_port": 80,
                                                                   "default_pool": {"name": "p", "protocol": "HTTP",
                                                                                    "lb_algorithm": "ROUND_ROBIN"}}])
        young = api.create_lb(name="young")
        live = api.create_lb(name="live")
        for lb in (old, young):
            assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true").status_code == 204
            api.wait_lb(lb["id"], "DELETED")
        db = ctl.db
        with db.session() as session:
            (old_amp,) = session.scalars(select(Amphora.id).where(Amphora.load_balancer_id == old["id"]))
            session.add(FailoverEvent(load_balancer_id=old["id"], amphora_id=old_amp, stage="DETECTED"))
            session.add(AdditionalVip(load_balancer_id=old["id"], subnet_id="s-extra"))
            # Amphorae in every situation the amphora rule tells apart.
            amps = {name: Amphora(status=status, role=None) for name, status in (
                ("expired", AmphoraStatus.DELETED), ("still_beating", AmphoraStatus.DELETED),
                ("young", AmphoraStatus.DELETED), ("error", AmphoraStatus.ERROR))}
            session.add_all(amps.values())
            # A deleted load balancer one of whose amphorae never reached DELETED (a leak): kept, to stay traceable.
            leaky = LoadBalancer(project_id="p1", provisioning_status="DELETED", operating_status="OFFLINE")
            session.add(leaky)
            session.flush()
            session.add(Amphora(status=AmphoraStatus.ERROR, load_balancer_id=leaky.id, updated_at=utcnow() - OLD))
            amp_ids = {name: amp.id for name, amp in amps.items()}
            session.add(AmphoraHealth(amphora_id=amp_ids["expired"], last_update=utcnow() - OLD, seq=1))
            session.add(AmphoraHealth(amphora_id=amp_ids["still_beating"], last_update=utcnow(), seq=1))
            aged = utcnow() - OLD
            session.execute(update(LoadBalancer).where(LoadBalancer.id.in_([old["id"], live["id"], leaky.id]))
                            .values(updated_at=aged))
            session.execute(update(Amphora).where(Amphora.id.in_(
                [old_amp, amp_ids["expired"], amp_ids["still_beating"], amp_ids["error"]])).values(updated_at=aged))
        assert count(db, Job, Job.load_balancer_id == old["id"]) > 0
        # A live LB's finished jobs: the old ones go, as a deleted LB's rows would; a recent one stays.
        with db.session() as session:
            live_jobs = list(session.scalars(select(Job.id).where(Job.load_balancer_id == live["id"])))
            session.execute(update(Job).where(Job.id.in_(live_jobs)).values(finished_at=aged))
        assert live_jobs and count(db, Job, Job.load_balancer_id == young["id"]) > 0

        cleanup = DatabaseCleanup(db, amphora_expiry_age=EXPIRY, load_balancer_expiry_age=EXPIRY)
        removed = cleanup.run_once()
        assert (removed.load_balancers, removed.amphorae) == (1, 2)  # old LB; its amphora and "expired"
        with db.session() as session:
            assert set(session.scalars(select(LoadBalancer.id))) == {young["id"], live["id"], leaky.id}
            assert set(session.scalars(select(Amphora.id))) == {
                amp_ids["still_beating"], amp_ids["young"], amp_ids["error"],
                *session.scalars(select(Amphora.id).where(
                    Amphora.load_balancer_id.in_([young["id"], live["id"], leaky.id])))}
            assert set(session.scalars(select(AmphoraHealth.amphora_id))) == {amp_ids["still_beating"]}
        assert removed.jobs >= len(live_jobs) and count(db, Job, Job.load_balancer_id == live["id"]) == 0
        assert count(db, Job, Job.load_balancer_id == young["id"]) > 0
        for model, where in ((Job, Job.load_balancer_id == old["id"]),
                             (FailoverEvent, FailoverEvent.load_balancer_id == old["id"]),
                             (AdditionalVip, AdditionalVip.load_balancer_id == old["id"]),
                             (Listener, Listener.load_balancer_id == old["id"]),
                             (Pool, Pool.load_balancer_id == old["id"])):
            assert count(db, model, where) == 0, model
        # The survivors are untouched and a second pass finds nothing.
        assert api.get(f"/v2/lbaas/loadbalancers/{live['id']}").json()["loadbalancer"]["provisioning_status"] \
            == "ACTIVE"
        assert cleanup.run_once() == type(removed)(0, 0)


def test_an_expired_amphora_keeps_the_counters_of_a_live_listener(any_db: str, tmp_path: Path) -> None:
    """A failed-over amphora's traffic stays in its listener's totals (stats API, /metrics counters) after the
    amphora row expires; counters of a listener that is gone go with the amphora."""
    with running_controller(any_db, str(tmp_path / "state")) as ctl, TestClient(ctl.app) as client:
        api = Api(client)
        lb = api.create_lb(name="live", listeners=[{"protocol": "HTTP", "protocol_port": 80}])
        db = ctl.db
        with db.session() as session:
            (listener_id,) = session.scalars(select(Listener.id).where(Listener.load_balancer_id == lb["id"]))
            gone = Amphora(status=AmphoraStatus.DELETED, role=None, updated_at=utcnow() - OLD)
            session.add(gone)
            session.flush()
            session.add(ListenerStatistics(listener_id=listener_id, amphora_id=gone.id, bytes_in=1000,
                                           bytes_out=2000, active_connections=0, total_connections=10,
                                           request_errors=0))
            session.add(ListenerStatistics(listener_id="a-deleted-listener", amphora_id=gone.id, bytes_in=5,
                                           bytes_out=5, active_connections=0, total_connections=1, request_errors=0))
            gone_id = gone.id
        before = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/stats").json()["stats"]
        assert before["bytes_in"] == 1000
        removed = DatabaseCleanup(db, amphora_expiry_age=EXPIRY, load_balancer_expiry_age=EXPIRY).run_once()
        assert removed.amphorae == 1 and count(db, Amphora, Amphora.id == gone_id) == 0
        assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/stats").json()["stats"] == before
        assert count(db, ListenerStatistics, ListenerStatistics.amphora_id == gone_id) == 1


def test_one_failing_task_does_not_stop_the_others() -> None:
    service = HousekeepingService()
    ticks: list[float] = []
    service.add("boom", lambda: 1 / 0, 0.01)
    service.add("tick", lambda: ticks.append(time.monotonic()), 0.02)
    service.start()
    try:
        wait_for(lambda: len(ticks) >= 5 and service.tasks["boom"].failures >= 5, 20, "both tasks running")
    finally:
        service.stop()
    assert service.tasks["tick"].failures == 0
    assert service._thread is not None and not service._thread.is_alive()


# test_job_recovery's `env` (a migrated database, workers stopped at teardown), on this module's `db_url`.
env = test_job_recovery.env


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database under test_job_recovery's `env` fixture, here chosen per test (indirect parametrize)."""
    with fresh_database(request.param, str(tmp_path)) as url:
        yield url


def sweeping_service(env: Env, name: str) -> HousekeepingService:
    """A housekeeping service whose job sweep hands jobs to a worker of its own, as inside `ostia up`."""
    worker = env.worker(name, **SWEEPER)
    return housekeeping_cmd.build(worker.conf, env.db, worker.drivers, InProcessDispatcher(worker))


DOOMED_WORKER = """
import json
import sys
from ostia import conf as conf_mod
from ostia.cli import bootstrap
from ostia.drivers.registry import build_drivers
from ostia.worker.service import Worker

url, state_dir, job_id, drivers = sys.argv[1:]
conf = conf_mod.load([], {"DEFAULT": {"state_dir": state_dir}, "database": {"connection": url},
                          "jobs": {"lease_seconds": 2, "sweep_interval": 3600},
                          "controller_worker": {**json.loads(drivers), "noop_task_delay": 60}})
db = bootstrap.database(conf)
worker = Worker(conf, db, build_drivers(conf, db), name="doomed")
worker.start()  # renews the lease while the flow hangs in its first driver call
worker.run_job(job_id)
"""


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_periodic_sweep_recovers_the_job_of_a_sigkilled_worker(env: Env) -> None:
    lb = env.add_lb("PENDING_CREATE")
    job_id = env.add_job("load_balancer.create", lb)
    service = sweeping_service(env, "housekeeper")
    log = Path(env.state_dir) / "doomed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", DOOMED_WORKER, env.url, env.state_dir, job_id,
                                 json.dumps(NOOP_DRIVERS)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: env.job(job_id).owner == "doomed" or proc.poll() is not None, 90, "claimed by doomed")
        assert proc.poll() is None, log.read_text()
        service.start()  # now: its sweep would otherwise take the job before the slow-starting process does
        # Alive and renewing: the sweeps running meanwhile leave its job alone.
        sweeps = service.tasks["job_sweep"].runs
        wait_for(lambda: service.tasks["job_sweep"].runs >= sweeps + 3, 20, "sweeps while the owner lives")
        assert (env.job(job_id).owner, env.status(LoadBalancer, lb)) == ("doomed", "PENDING_CREATE")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        env.wait_jobs([job_id], timeout=60)
    finally:
        service.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    job = env.job(job_id)
    assert (job.state, job.owner, job.attempts) == (JobState.DONE, "housekeeper", 2)
    assert env.status(LoadBalancer, lb) == "ACTIVE"
    assert count(env.db, LoadBalancer, LoadBalancer.provisioning_status.like("PENDING_%")) == 0


@pytest.mark.parametrize("db_url", [b for b in ("postgresql", "mysql") if b in BACKENDS], indirect=True)
def test_two_sweepers_at_once_recover_each_job_once(env: Env) -> None:
    lbs = [env.add_lb("PENDING_CREATE") for _ in range(8)]
    jobs = [env.add_job("load_balancer.create", lb, JobState.RUNNING, "dead", dt.timedelta(seconds=-30), 1)
            for lb in lbs]
    services = [sweeping_service(env, name) for name in ("hk-a", "hk-b")]
    barrier = threading.Barrier(len(services))
    found: list[int] = []

    def sweep(service: HousekeepingService) -> None:
        barrier.wait(10)
        found.append(service.run_task("job_sweep"))

    threads = [threading.Thread(target=sweep, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # The first read sees every abandoned job; the later one those not yet claimed: some were handed over by
    # both, so the claim had to decide.
    assert max(found) == len(jobs) and sum(found) > len(jobs), found
    env.wait_jobs(jobs, timeout=60)
    with env.db.session() as session:
        rows = list(session.execute(select(Job.owner, Job.attempts, Job.state).where(Job.id.in_(jobs))))
    # Each ran exactly once more, by one of them.
    assert sorted((attempts, state) for _, attempts, state in rows) == [(2, JobState.DONE)] * len(jobs)
    assert {owner for owner, _, _ in rows} <= {"hk-a", "hk-b"}
    allocations = [args[0] for worker in env.workers for name, args in worker.drivers.network.calls  # type: ignore[attr-defined]
                   if name == "allocate_vip"]
    assert sorted(allocations) == sorted(lbs)
    assert [env.status(LoadBalancer, lb) for lb in lbs] == ["ACTIVE"] * len(lbs)


def test_ostia_housekeeping_process_cleans_expired_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hk.sqlite'}"
    rows = Env(url, str(tmp_path / "state"))  # migrated and seeded, as `ostia db upgrade` leaves it
    expired, young = rows.add_lb("DELETED"), rows.add_lb("DELETED")
    with rows.db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == expired).values(updated_at=utcnow() - OLD))
    sets = {"database.connection": url, "house_keeping.cleanup_interval": "0.1",
            "house_keeping.load_balancer_expiry_age": str(EXPIRY), "house_keeping.spare_amphora_pool_size": "0"}
    argv = [sys.executable, "-m", "ostia.cli.main", *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")],
            "housekeeping"]
    log = tmp_path / "hk.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: count(rows.db, LoadBalancer, LoadBalancer.id == expired) == 0 or proc.poll() is not None,
                 90, "expired row removed")
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        rows.db.engine.dispose()
    assert count(rows.db, LoadBalancer, LoadBalancer.id == young) == 1
    output = log.read_text()
    assert "ostia housekeeping: db_cleanup" in output and "removed 1 expired load balancers" in output, output


def test_spare_pool_discards_only_spares_booting_longer_than_a_build(sqlite_url: str, tmp_path: Path) -> None:
    """A housekeeping process starting (or refilling) must not destroy a spare another one is booting now."""
    from types import SimpleNamespace
    from unittest import mock

    from ostia.housekeeping.spares import SparePool

    with running_controller(sqlite_url, str(tmp_path / "state")) as ctl:
        with ctl.db.session() as session:
            young = Amphora(load_balancer_id=None, role=None, status=AmphoraStatus.BOOTING)
            old = Amphora(load_balancer_id=None, role=None, status=AmphoraStatus.BOOTING,
                          created_at=utcnow() - dt.timedelta(seconds=3600))
            session.add_all([young, old])
            session.flush()
            young_id, old_id = young.id, old.id
        drivers: Any = SimpleNamespace(compute=mock.Mock(), network=mock.Mock(), amphora=mock.Mock())
        SparePool(ctl.db, drivers, size=0, interval=1.0, boot_timeout=600)._forget_interrupted()
        with ctl.db.session() as session:
            status = dict(session.execute(select(Amphora.id, Amphora.status)
                                          .where(Amphora.id.in_([young_id, old_id]))).all())
        assert status == {young_id: AmphoraStatus.BOOTING, old_id: AmphoraStatus.ERROR}
        drivers.amphora.forget.assert_called_once_with(old_id)
