"""Job recovery in-process: lapsed leases past max_attempts revert, lost dispatches are swept up.

The situations a killed worker leaves behind are written straight into the job table (a RUNNING row whose
owner is gone and whose lease is in the past), then a fresh Worker is pointed at the database. The real
kill-a-process versions of these tests live in tests/e2e/test_rabbit.py.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from ostia import conf as conf_mod
from ostia.cli import bootstrap
from ostia.db.engine import Database
from ostia.db.models import Amphora, Job, LoadBalancer, Pool, utcnow
from ostia.domain.enums import AmphoraStatus, JobState
from ostia.drivers.registry import Drivers, build_drivers
from ostia.jobs import store
from ostia.worker.service import Worker
from tests.support.databases import BACKENDS, fresh_database
from tests.support.processes import NOOP_DRIVERS

MAX_ATTEMPTS = 2
DEAD_LEASE = dt.timedelta(seconds=-30)


@pytest.fixture(params=[b for b in ("sqlite", "postgresql") if b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, str(tmp_path_factory.mktemp("db"))) as url:
        yield url


class Env:
    """A migrated database and the workers started on it (all stopped at teardown)."""

    def __init__(self, url: str, state_dir: str) -> None:
        self.url = url
        self.state_dir = state_dir
        self.workers: list[Worker] = []
        self.drivers: Drivers | None = None
        conf = self.conf()
        self.db: Database = bootstrap.database(conf)
        bootstrap.prepare_database(conf, self.db)

    def conf(self, **overrides: dict[str, object]) -> Any:
        opts: dict[str, dict[str, object]] = {
            "DEFAULT": {"state_dir": self.state_dir}, "database": {"connection": self.url},
            "jobs": {"max_attempts": MAX_ATTEMPTS, "lease_seconds": 5, "sweep_interval": 1.0},
            "controller_worker": dict(NOOP_DRIVERS)}
        for group, values in overrides.items():
            opts.setdefault(group, {}).update(values)
        return conf_mod.load([], opts)

    def worker(self, name: str, **overrides: dict[str, object]) -> Worker:
        conf = self.conf(**overrides)
        self.drivers = build_drivers(conf, self.db)
        worker = Worker(conf, self.db, self.drivers, name=name)
        self.workers.append(worker)
        return worker

    # -- rows ------------------------------------------------------------------------------------
    def add_lb(self, status: str, provider: str = "amphora") -> str:
        with self.db.session() as session:
            lb = LoadBalancer(project_id="p1", provisioning_status=status, operating_status="OFFLINE",
                              vip_subnet_id="d05a7bde-cca3-5925-ad49-7a8b3df07363", provider=provider,
                              topology="SINGLE")
            session.add(lb)
            session.flush()
            return lb.id

    def add_pool(self, lb_id: str, status: str) -> str:
        with self.db.session() as session:
            pool = Pool(project_id="p1", load_balancer_id=lb_id, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                        provisioning_status=status, operating_status="OFFLINE")
            session.add(pool)
            session.flush()
            return pool.id

    def add_job(self, kind: str, lb_id: str, state: str = JobState.PENDING, owner: str | None = None,
                lease: dt.timedelta | None = None, attempts: int = 0, age: float = 0.0,
                **payload: Any) -> str:
        with self.db.session() as session:
            job = store.add_job(session, kind, payload or {"id": lb_id}, lb_id)
            job.state = state
            job.owner = owner
            job.attempts = attempts
            job.lease_expires_at = utcnow() + lease if lease is not None else None
            job.created_at = utcnow() - dt.timedelta(seconds=age)
            return job.id

    def job(self, job_id: str) -> Job:
        with self.db.session() as session:
            return session.get_one(Job, job_id)

    def status(self, model: Any, row_id: str) -> str | None:
        with self.db.session() as session:
            return session.scalar(select(model.provisioning_status).where(model.id == row_id))

    def wait_jobs(self, job_ids: list[str], timeout: float = 20.0) -> None:
        """Until every job is DONE or REVERTED."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db.session() as session:
                states = {i: s for i, s in session.execute(select(Job.id, Job.state).where(Job.id.in_(job_ids)))}
            if all(states.get(j) in (JobState.DONE, JobState.REVERTED) for j in job_ids):
                return
            time.sleep(0.05)
        raise AssertionError(f"jobs never finished: {states}")


@pytest.fixture
def env(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(db_url, str(tmp_path_factory.mktemp("state")))
    try:
        yield e
    finally:
        for worker in e.workers:
            worker.stop(wait=True)
        e.db.engine.dispose()


def test_lapsed_lease_past_max_attempts_reverts_and_below_it_resumes(env: Env) -> None:
    # An LB create that crashed its worker max_attempts times: an amphora was half built.
    lb1 = env.add_lb("PENDING_CREATE")
    pool1 = env.add_pool(lb1, "PENDING_CREATE")
    with env.db.session() as session:
        amp = Amphora(load_balancer_id=lb1, role="STANDALONE", status=AmphoraStatus.BOOTING, compute_id="c-1")
        session.add(amp)
        session.flush()
        amp1 = amp.id
    job1 = env.add_job("load_balancer.create", lb1, JobState.RUNNING, "dead", DEAD_LEASE, MAX_ATTEMPTS)
    # A child update in the same situation: the pool goes ERROR, its LB back to ACTIVE.
    lb2 = env.add_lb("PENDING_UPDATE")
    pool2 = env.add_pool(lb2, "PENDING_UPDATE")
    job2 = env.add_job("pool.update", lb2, JobState.RUNNING, "dead", DEAD_LEASE, MAX_ATTEMPTS, ids=[pool2])
    # An LB delete likewise: ERROR, not deleted and not PENDING_DELETE.
    lb3 = env.add_lb("PENDING_DELETE")
    job3 = env.add_job("load_balancer.delete", lb3, JobState.RUNNING, "dead", DEAD_LEASE, MAX_ATTEMPTS)
    # One attempt fewer: resumed (the flow runs again) and completes.
    lb4 = env.add_lb("PENDING_CREATE")
    job4 = env.add_job("load_balancer.create", lb4, JobState.RUNNING, "dead", DEAD_LEASE, MAX_ATTEMPTS - 1)
    # A live owner's lease is left alone.
    lb5 = env.add_lb("PENDING_CREATE")
    job5 = env.add_job("load_balancer.create", lb5, JobState.RUNNING, "alive", dt.timedelta(seconds=60), 1)

    worker = env.worker("rescuer")
    assert worker.sweep() == 4
    env.wait_jobs([job1, job2, job3, job4])

    for job_id in (job1, job2, job3):
        job = env.job(job_id)
        assert (job.state, job.owner, job.attempts, job.error, job.lease_expires_at) == (
            JobState.REVERTED, "rescuer", MAX_ATTEMPTS + 1, "gave up after repeated attempts", None)
        assert job.finished_at is not None
    assert (env.status(LoadBalancer, lb1), env.status(Pool, pool1)) == ("ERROR", "ERROR")
    assert (env.status(LoadBalancer, lb2), env.status(Pool, pool2)) == ("ACTIVE", "ERROR")
    assert env.status(LoadBalancer, lb3) == "ERROR"
    # The whole flow was reverted, not only its sentinel: the half-built amphora and the VIP are released.
    with env.db.session() as session:
        assert session.get_one(Amphora, amp1).status == AmphoraStatus.ERROR
    assert env.drivers is not None
    assert ("delete", ("c-1",)) in env.drivers.compute.calls  # type: ignore[attr-defined]
    assert ("deallocate_vip", (lb1,)) in env.drivers.network.calls  # type: ignore[attr-defined]
    assert [a for n, a in env.drivers.compute.calls if n == "build" and a[1] == lb1] == []  # type: ignore[attr-defined]

    job = env.job(job4)
    assert (job.state, job.owner, job.attempts, job.error) == (JobState.DONE, "rescuer", MAX_ATTEMPTS, None)
    assert env.status(LoadBalancer, lb4) == "ACTIVE"

    job = env.job(job5)
    assert (job.state, job.owner, job.attempts) == (JobState.RUNNING, "alive", 1)
    assert env.status(LoadBalancer, lb5) == "PENDING_CREATE"
    assert worker.sweep() == 0


def test_lost_dispatch_is_picked_up_by_the_sweep(env: Env) -> None:
    # Committed but never dispatched (API died after the commit, or the broker dropped the message).
    lost_lb = env.add_lb("PENDING_CREATE")
    lost = env.add_job("load_balancer.create", lost_lb, age=30)
    # Just committed: its dispatch may still be on its way, so the sweep leaves it for now.
    fresh_lb = env.add_lb("PENDING_CREATE", provider="noop_driver")
    fresh = env.add_job("load_balancer.create", fresh_lb)

    worker = env.worker("sweeper", jobs={"sweep_interval": 0.3})
    assert worker.sweep() == 1
    env.wait_jobs([lost])
    job = env.job(lost)
    assert (job.state, job.owner, job.attempts) == (JobState.DONE, "sweeper", 1)
    assert env.status(LoadBalancer, lost_lb) == "ACTIVE"
    assert env.job(fresh).state == JobState.PENDING

    # The background sweep takes it once the dispatch grace (2 sweep intervals) has passed.
    worker.start()
    env.wait_jobs([fresh], timeout=10)
    job = env.job(fresh)
    assert (job.state, job.owner, job.attempts) == (JobState.DONE, "sweeper", 1)
    assert env.status(LoadBalancer, fresh_lb) == "ACTIVE"


def test_sweep_does_not_rerun_a_job_this_worker_still_runs(env: Env) -> None:
    """A worker whose own lease lapsed (stalled renewer) must not start a second run beside the first."""
    lb = env.add_lb("PENDING_CREATE")
    job_id = env.add_job("load_balancer.create", lb)
    worker = env.worker("slow", controller_worker={"noop_task_delay": 0.25})  # ~6 driver calls: 1.5 s
    worker.submit(job_id)
    worker.submit(job_id)  # a duplicate message: ignored while the job is queued or running here
    deadline = time.monotonic() + 10
    while env.job(job_id).state != JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    with env.db.session() as session:  # no renewer runs (not started): the lease lapses for real
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() + DEAD_LEASE))
    assert worker.sweep() == 1  # found as recoverable ...
    env.wait_jobs([job_id])
    job = env.job(job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 1)  # ... but not run a second time
    assert env.status(LoadBalancer, lb) == "ACTIVE"
    creates = [c for c in env.drivers.network.calls if c[0] == "allocate_vip"]  # type: ignore[union-attr]
    assert len(creates) == 1


def test_unknown_job_kind_is_finished_not_retried(env: Env) -> None:
    """No flow can ever run it: the job ends REVERTED at once and its load balancer goes ERROR."""
    lb = env.add_lb("PENDING_UPDATE")
    job_id = env.add_job("load_balancer.frobnicate", lb, age=30)
    worker = env.worker("w")
    assert worker.sweep() == 1
    env.wait_jobs([job_id])
    job = env.job(job_id)
    assert (job.state, job.attempts, job.error) == (JobState.REVERTED, 1, "KeyError: 'frobnicate'")
    assert env.status(LoadBalancer, lb) == "ERROR"
    assert worker.sweep() == 0
