"""The worker: claims jobs under a lease and runs each as a taskflow flow.

A job is claimed with a compare-and-set on its row, so two workers never run it at once. While the flow
runs, a renewer thread keeps the lease fresh; if this process dies (SIGKILL included) the lease lapses and
the recovery sweep of any worker claims the job again. Tasks are idempotent, so a claimed-again job is
*resumed* by running its flow again; after `max_attempts` runs it is *reverted* instead (its first task's
revert marks the targets ERROR). Either way nothing stays PENDING_*.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import taskflow.engines
from oslo_config import cfg
from sqlalchemy import select

from ostia.db.engine import Database
from ostia.db.models import Job, LoadBalancer
from ostia.domain.enums import JobState
from ostia.drivers.registry import Drivers
from ostia.jobs import store
from ostia.worker import flows

LOG = logging.getLogger("ostia.worker")


class Worker:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, drivers: Drivers, name: str | None = None) -> None:
        self.conf = conf
        self.db = db
        self.drivers = drivers
        self.name = name or f"{conf.host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=conf.controller_worker.workers, thread_name_prefix="flow")
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._renew_loop, "lease-renewer"), (self._sweep_loop, "job-recovery")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        LOG.info("worker %s started", self.name)

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        for thread in self._threads:
            thread.join(timeout=5)

    def submit(self, job_id: str) -> None:
        if not self._stop.is_set():
            self._pool.submit(self.run_job, job_id)

    # -- one job ---------------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        lease = self.conf.jobs.lease_seconds
        with self.db.session() as session:
            if not store.claim(session, job_id, self.name, lease):
                return
        with self._lock:
            self._running.add(job_id)
        try:
            self._run_claimed(job_id)
        except Exception:
            LOG.exception("job=%s crashed outside its flow", job_id)
        finally:
            with self._lock:
                self._running.discard(job_id)

    def _run_claimed(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.get_one(Job, job_id)
            provider = session.scalar(select(LoadBalancer.provider).where(LoadBalancer.id == job.load_balancer_id))
        flow, flow_store = flows.build(job, self.db, self.drivers, provider)
        if job.attempts > self.conf.jobs.max_attempts:
            LOG.warning("job=%s kind=%s ran %d times: reverting", job.id, job.kind, job.attempts - 1)
            self._revert_only(flow, flow_store)
            with self.db.session() as session:
                store.finish(session, job.id, self.name, JobState.REVERTED, "gave up after repeated attempts")
            return
        try:
            taskflow.engines.run(flow, store=flow_store, engine="serial")
        except Exception as exc:
            LOG.warning("job=%s kind=%s lb=%s failed and was reverted: %s", job.id, job.kind,
                        job.load_balancer_id, exc)
            with self.db.session() as session:
                store.finish(session, job.id, self.name, JobState.REVERTED, f"{type(exc).__name__}: {exc}")
            return
        with self.db.session() as session:
            store.finish(session, job.id, self.name, JobState.DONE)
        LOG.info("job=%s kind=%s lb=%s done", job.id, job.kind, job.load_balancer_id)

    @staticmethod
    def _revert_only(flow: object, flow_store: dict[str, object]) -> None:
        """Run only the lifecycle sentinel's revert (the first task of every flow)."""
        first = next(iter(flow))  # type: ignore[call-overload]
        args = {name: flow_store[name] for name in first.requires if name in flow_store}
        first.revert(**args)

    # -- background ------------------------------------------------------------------------------
    def _renew_loop(self) -> None:
        interval = max(self.conf.jobs.lease_seconds / 3.0, 0.5)
        while not self._stop.wait(interval):
            with self._lock:
                running = list(self._running)
            try:
                with self.db.session() as session:
                    store.renew(session, running, self.name, self.conf.jobs.lease_seconds)
            except Exception:
                LOG.exception("could not renew job leases")

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.conf.jobs.sweep_interval):
            self.sweep()

    def sweep(self) -> int:
        """Claim jobs nobody is running (lapsed lease, lost dispatch). Returns how many were submitted."""
        try:
            with self.db.session() as session:
                ids = store.recoverable(session, unclaimed_grace=self.conf.jobs.sweep_interval * 2)
        except Exception:
            LOG.exception("job recovery sweep failed")
            return 0
        for job_id in ids:
            LOG.info("job=%s recovered by %s", job_id, self.name)
            self.submit(job_id)
        return len(ids)
