"""The worker: claims jobs under a lease and runs each as a taskflow flow.

A job is claimed with a compare-and-set on its row, so two workers never run it at once. While the flow
runs, a renewer thread keeps the lease fresh; if this process dies (SIGKILL included) the lease lapses and
the recovery sweep of any worker claims the job again. Tasks are idempotent, so a claimed-again job is
*resumed* by running its flow again; after `max_attempts` runs it is *reverted* instead (every task's revert,
last to first; the first task's marks the targets ERROR). Either way nothing stays PENDING_*.

A job id is handed to this process's pool at most once at a time (RPC message, recovery sweep and
duplicates of either all end up in `submit`), so a sweep never starts a second run of a job this process
is still running or has queued.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import taskflow.engines
from oslo_config import cfg
from sqlalchemy import select
from taskflow import flow as tf_flow
from taskflow import task as tf_task

from ostia.db.engine import Database
from ostia.db.models import Job, LoadBalancer
from ostia.db.repositories import tree
from ostia.domain.enums import JobState
from ostia.drivers.registry import Drivers
from ostia.jobs import store
from ostia.metrics.instruments import FLOW_SECONDS
from ostia.worker import flows

LOG = logging.getLogger("ostia.worker")


class Worker:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, drivers: Drivers, name: str | None = None) -> None:
        self.conf = conf
        self.db = db
        self.drivers = drivers
        self.name = name or f"{conf.host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=conf.controller_worker.workers, thread_name_prefix="flow")
        self._running: set[str] = set()  # claimed by us: their leases are renewed
        self._active: set[str] = set()  # queued in the pool or running here
        self._lock = threading.Lock()
        self._closing = threading.Event()  # no new jobs
        self._stop = threading.Event()  # background loops end
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._renew_loop, "lease-renewer"), (self._sweep_loop, "job-recovery")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        LOG.info("worker %s started", self.name)

    def stop(self, wait: bool = True) -> None:
        """Take no new jobs. wait=True lets running flows finish, their leases renewed until they do."""
        self._closing.set()
        if not wait:
            self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def submit(self, job_id: str) -> bool:
        """Queue a job (the claim decides later whether it runs here). False if already queued/running."""
        with self._lock:
            if self._closing.is_set() or job_id in self._active:
                return False
            self._active.add(job_id)
        try:
            self._pool.submit(self.run_job, job_id)
        except RuntimeError:  # the pool shut down meanwhile: the job stays for another worker's sweep
            with self._lock:
                self._active.discard(job_id)
            return False
        return True

    # -- one job ---------------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        try:
            with self.db.session() as session:
                claimed = store.claim(session, job_id, self.name, self.conf.jobs.lease_seconds)
            if not claimed:
                return
            with self._lock:
                self._running.add(job_id)
            self._run_claimed(job_id)
        except Exception:  # the job stays RUNNING; its lease lapses and a sweep tries again
            LOG.exception("job=%s crashed outside its flow", job_id)
        finally:
            with self._lock:
                self._running.discard(job_id)
                self._active.discard(job_id)

    def _run_claimed(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.get_one(Job, job_id)
            provider = session.scalar(select(LoadBalancer.provider).where(LoadBalancer.id == job.load_balancer_id))
        try:
            flow, flow_store = flows.build(job, self.db, self.drivers, provider)
        except Exception as exc:  # no flow will ever run it: retrying would only loop
            LOG.exception("job=%s kind=%s has no flow; its load balancer goes ERROR", job.id, job.kind)
            if job.load_balancer_id:  # nothing may stay PENDING_*, even after a bug
                with self.db.session() as session:
                    tree.fail_load_balancer(session, job.load_balancer_id)
            self._finish(job.id, JobState.REVERTED, f"{type(exc).__name__}: {exc}")
            return
        if job.attempts > self.conf.jobs.max_attempts:
            LOG.warning("job=%s kind=%s ran %d times: reverting", job.id, job.kind, job.attempts - 1)
            self._revert_only(job.id, flow, flow_store)
            self._finish(job.id, JobState.REVERTED, "gave up after repeated attempts")
            return
        started = time.monotonic()
        try:
            taskflow.engines.run(flow, store=flow_store, engine="serial")
        except Exception as exc:
            FLOW_SECONDS.labels(job.kind, JobState.REVERTED).observe(time.monotonic() - started)
            LOG.warning("job=%s kind=%s lb=%s failed and was reverted: %s", job.id, job.kind,
                        job.load_balancer_id, exc)
            self._finish(job.id, JobState.REVERTED, f"{type(exc).__name__}: {exc}")
            return
        FLOW_SECONDS.labels(job.kind, JobState.DONE).observe(time.monotonic() - started)
        self._finish(job.id, JobState.DONE)
        LOG.info("job=%s kind=%s lb=%s done", job.id, job.kind, job.load_balancer_id)

    def _finish(self, job_id: str, state: JobState, error: str | None = None) -> None:
        with self.db.session() as session:
            if not store.finish(session, job_id, self.name, state, error):
                LOG.warning("job=%s finished here as %s, but its lease had passed to another worker", job_id,
                            state)

    @staticmethod
    def _revert_only(job_id: str, flow: tf_flow.Flow, flow_store: dict[str, object]) -> None:
        """Revert without executing: every task's revert, last to first, as taskflow would after a failure.

        Which tasks ran before the crashes is unknown, so each revert must cope with work never done (they
        are idempotent clean-ups). A failing clean-up is logged and skipped; the first task (the sentinel
        that marks the objects ERROR) must succeed, else the job stays RUNNING and is tried again.
        """
        tasks = list(_tasks_in_order(flow))
        for index in range(len(tasks) - 1, -1, -1):
            atom = tasks[index]
            args = {arg: flow_store[src] for arg, src in atom.revert_rebind.items() if src in flow_store}
            args.setdefault("result", None)
            args.setdefault("flow_failures", {})
            try:
                atom.revert(**args)
            except Exception:
                if index == 0:
                    raise
                LOG.exception("job=%s revert of %s failed; going on", job_id, atom.name)

    # -- background ------------------------------------------------------------------------------
    def _renew_loop(self) -> None:
        interval = max(self.conf.jobs.lease_seconds / 3.0, 0.5)
        while not self._stop.wait(interval):
            with self._lock:
                running = list(self._running)
            try:
                with self.db.session() as session:
                    kept = store.renew(session, running, self.name, self.conf.jobs.lease_seconds)
            except Exception:
                LOG.exception("could not renew job leases")
                continue
            with self._lock:  # jobs that finished meanwhile were not renewed and are not lost
                still = [job_id for job_id in running if job_id in self._running]
            if kept < len(still):  # a lease lapsed (stalled process) and another worker took the job over
                LOG.warning("lost the lease of %d of %d running jobs", len(still) - kept, len(still))

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.conf.jobs.sweep_interval):
            self.sweep()

    def sweep(self) -> int:
        """Submit jobs nobody is running (lapsed lease, lost dispatch). Returns how many were found."""
        if self._closing.is_set():
            return 0
        try:
            with self.db.session() as session:
                ids = store.recoverable(session, unclaimed_grace=self.conf.jobs.sweep_interval * 2)
        except Exception:
            LOG.exception("job recovery sweep failed")
            return 0
        for job_id in ids:
            if self.submit(job_id):
                LOG.info("job=%s recovered by %s", job_id, self.name)
        return len(ids)


def _tasks_in_order(flow: tf_flow.Flow) -> list[tf_task.Task]:
    found: list[tf_task.Task] = []
    for item in flow:
        found.extend(_tasks_in_order(item) if isinstance(item, tf_flow.Flow) else [item])
    return found
