"""The stale-amphora scanner: decides automatic failovers and configuration re-pushes (internals §4).

Every `health_check_interval` one pass:

1. FAILOVER_STOPPED amphorae whose heartbeats came back go ALLOCATED again.
2. Stale = a health row older than `heartbeat_timeout`, not busy, amphora ALLOCATED or FAILOVER_STOPPED.
   (A row exists only after the first good heartbeat, so booting amphorae are never stale.)
3. Circuit breaker: when more than one amphora is stale and they are more than `failover_threshold` of all
   amphorae with health rows, the controller side is the likelier culprit (its network, the health manager
   itself): they go FAILOVER_STOPPED, one SKIPPED timeline row each, nothing is failed over.
4. Else, for up to `failover_threads` of them, one transaction each: compare-and-set busy on the health row
   (so two health managers never take the same amphora), compare-and-set the LB ACTIVE|ERROR →
   PENDING_UPDATE (else roll back, releasing busy), DETECTED + DECIDED rows and an `amphora.failover` job;
   then the job is dispatched. The worker's flow does the rest.
5. Configuration drift: an ALLOCATED amphora of an ACTIVE LB whose heartbeats report another haproxy.cfg hash
   than the one last pushed to it, for longer than two heartbeat intervals, gets an `amphora.config` job
   (at most one pending or running per amphora).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from typing import Any, Protocol

from oslo_config import cfg
from sqlalchemy import func, select, update

from ostia.db.engine import Database
from ostia.db.models import Amphora, AmphoraHealth, Job, LoadBalancer, utcnow
from ostia.domain.enums import AmphoraStatus, JobState, ProvisioningStatus
from ostia.health import timeline
from ostia.health.timeline import FailoverStage
from ostia.jobs.store import add_job

LOG = logging.getLogger("ostia.health.failover")

FAILOVERABLE_AMPHORAE = (AmphoraStatus.ALLOCATED, AmphoraStatus.FAILOVER_STOPPED)
FAILOVERABLE_LBS = (ProvisioningStatus.ACTIVE, ProvisioningStatus.ERROR)
DRIFT_INTERVALS = 2  # heartbeat intervals a hash mismatch must last (a push and its first beat may cross)


class Dispatcher(Protocol):
    def dispatch(self, job_id: str) -> None: ...


@dataclasses.dataclass
class ScanResult:
    """What one pass did, by amphora id (for logs and tests)."""

    stale: list[str] = dataclasses.field(default_factory=list)
    failed_over: list[str] = dataclasses.field(default_factory=list)  # a failover job was created
    stopped: list[str] = dataclasses.field(default_factory=list)  # circuit breaker: newly FAILOVER_STOPPED
    recovered: list[str] = dataclasses.field(default_factory=list)  # FAILOVER_STOPPED → ALLOCATED
    reconfigured: list[str] = dataclasses.field(default_factory=list)  # an amphora.config job was created
    jobs: list[str] = dataclasses.field(default_factory=list)


class FailoverScanner:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, dispatcher: Dispatcher) -> None:
        self.conf = conf
        self.db = db
        self.dispatcher = dispatcher
        self._drift_since: dict[str, float] = {}  # amphora id → monotonic time its hash mismatch was first seen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- as a service ----------------------------------------------------------------------------------
    def start(self, initial_delay: float | None = None) -> None:
        """Scan every health_check_interval in a thread. The first pass waits heartbeat_timeout (default)
        so amphorae get to report to a health manager that just started before anything counts as stale."""
        delay = self.conf.health_manager.heartbeat_timeout if initial_delay is None else initial_delay
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(delay,), name="failover-scanner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self, delay: float) -> None:
        if self._stop.wait(delay):
            return
        interval = self.conf.health_manager.health_check_interval
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.scan_once()
            except Exception:  # a lost database must not end the health manager: next pass tries again
                LOG.exception("failover scan failed")
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    # -- one pass --------------------------------------------------------------------------------------
    def scan_once(self) -> ScanResult:
        hm = self.conf.health_manager
        result = ScanResult()
        now = utcnow()
        expired = now - dt.timedelta(seconds=hm.heartbeat_timeout)
        result.recovered = self._recover_stopped(expired)
        stale, total = self._stale(expired)
        result.stale = [amp_id for amp_id, _, _ in stale]
        if stale and hm.failover_threshold > 0 and len(stale) > 1 and len(stale) / total > hm.failover_threshold:
            result.stopped = self._trip_breaker(stale, total)
        else:
            for amp_id, lb_id, last in stale[:hm.failover_threads]:
                job_id = self._decide(amp_id, lb_id, last, expired)
                if job_id is not None:
                    result.failed_over.append(amp_id)
                    result.jobs.append(job_id)
        for amp_id, job_id in self._config_drift(expired):
            result.reconfigured.append(amp_id)
            result.jobs.append(job_id)
        for job_id in result.jobs:  # after commit: a worker must find the row the message names
            self.dispatcher.dispatch(job_id)
        return result

    def _recover_stopped(self, expired: dt.datetime) -> list[str]:
        with self.db.session() as session:
            fresh = list(session.scalars(
                select(Amphora.id).join(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                .where(Amphora.status == AmphoraStatus.FAILOVER_STOPPED, AmphoraHealth.last_update >= expired)))
            back = []
            for amp_id in fresh:
                if session.execute(update(Amphora).where(
                        Amphora.id == amp_id, Amphora.status == AmphoraStatus.FAILOVER_STOPPED)
                        .values(status=AmphoraStatus.ALLOCATED, updated_at=utcnow())).rowcount:  # type: ignore[attr-defined]
                    back.append(amp_id)
        for amp_id in back:
            LOG.info("amp=%s reports again: FAILOVER_STOPPED → ALLOCATED", amp_id)
        return back

    def _stale(self, expired: dt.datetime) -> tuple[list[tuple[str, str | None, dt.datetime]], int]:
        """Stale candidates (oldest first) and how many amphorae have health rows at all."""
        with self.db.session() as session:
            rows = session.execute(
                select(Amphora.id, Amphora.load_balancer_id, AmphoraHealth.last_update)
                .join(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                .where(AmphoraHealth.busy.is_(False), AmphoraHealth.last_update < expired,
                       Amphora.status.in_(FAILOVERABLE_AMPHORAE))
                .order_by(AmphoraHealth.last_update)).tuples().all()
            total = session.scalar(
                select(func.count()).select_from(AmphoraHealth)
                .join(Amphora, Amphora.id == AmphoraHealth.amphora_id)
                .where(Amphora.status != AmphoraStatus.DELETED)) or 0
        return [(a, lb, last) for a, lb, last in rows], max(int(total), 1)

    def _trip_breaker(self, stale: list[tuple[str, str | None, dt.datetime]], total: int) -> list[str]:
        LOG.error("%d of %d amphorae are stale at once: failover stopped for them (circuit breaker, "
                  "threshold %.0f%%); look at the controller's network and the health managers",
                  len(stale), total, self.conf.health_manager.failover_threshold * 100)
        stopped = []
        with self.db.session() as session:
            for amp_id, lb_id, last in stale:
                if session.execute(update(Amphora).where(
                        Amphora.id == amp_id, Amphora.status == AmphoraStatus.ALLOCATED)
                        .values(status=AmphoraStatus.FAILOVER_STOPPED, updated_at=utcnow())).rowcount:  # type: ignore[attr-defined]
                    stopped.append(amp_id)
                    timeline.record(session, FailoverStage.SKIPPED, lb_id, amp_id,
                                    f"circuit breaker: {len(stale)} of {total} amphorae stale at once "
                                    f"(last heartbeat {last.isoformat()}); amphora FAILOVER_STOPPED")
        return stopped

    def _decide(self, amp_id: str, lb_id: str | None, last: dt.datetime, expired: dt.datetime) -> str | None:
        """One failover decision in one transaction; the job id, or None when someone else has it."""
        with self.db.session() as session:
            took = session.execute(
                update(AmphoraHealth).where(AmphoraHealth.amphora_id == amp_id, AmphoraHealth.busy.is_(False),
                                            AmphoraHealth.last_update < expired)
                .values(busy=True).execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
            if not took:  # another health manager, a flow, or a late heartbeat got there first
                return None
            if lb_id is not None:
                locked = session.execute(
                    update(LoadBalancer).where(LoadBalancer.id == lb_id,
                                               LoadBalancer.provisioning_status.in_(FAILOVERABLE_LBS))
                    .values(provisioning_status=ProvisioningStatus.PENDING_UPDATE, updated_at=utcnow())
                    .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
                if not locked:  # the LB is busy (PENDING_*): leave it, busy is released by the rollback
                    session.rollback()
                    LOG.info("lb=%s amp=%s stale but its load balancer is busy: not now", lb_id, amp_id)
                    return None
            age = (utcnow() - last).total_seconds()
            timeline.record(session, FailoverStage.DETECTED, lb_id, amp_id,
                            f"no heartbeat for {age:.1f} s (timeout {self.conf.health_manager.heartbeat_timeout:g} s)")
            job = add_job(session, "amphora.failover", {"amphora_id": amp_id}, lb_id)
            timeline.record(session, FailoverStage.DECIDED, lb_id, amp_id, f"failover job {job.id}")
            job_id = job.id
        LOG.warning("lb=%s amp=%s stale for %.1f s: failing over (job=%s)", lb_id, amp_id, age, job_id)
        return job_id

    # -- configuration drift ---------------------------------------------------------------------------
    def _config_drift(self, expired: dt.datetime) -> list[tuple[str, str]]:
        with self.db.session() as session:
            drifting = set(session.scalars(
                select(Amphora.id).join(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                .join(LoadBalancer, LoadBalancer.id == Amphora.load_balancer_id)
                .where(Amphora.status == AmphoraStatus.ALLOCATED, Amphora.config_hash.is_not(None),
                       LoadBalancer.provisioning_status == ProvisioningStatus.ACTIVE,
                       AmphoraHealth.last_update >= expired,
                       func.coalesce(AmphoraHealth.applied_config_hash, "") != Amphora.config_hash)))
        clock = time.monotonic()
        for amp_id in list(self._drift_since):
            if amp_id not in drifting:
                del self._drift_since[amp_id]
        grace = DRIFT_INTERVALS * self.conf.health_manager.heartbeat_interval
        created = []
        for amp_id in sorted(drifting):
            since = self._drift_since.setdefault(amp_id, clock)
            if clock - since <= grace:
                continue
            job_id = self._repush(amp_id)
            self._drift_since[amp_id] = clock  # the next push no sooner than another grace period
            if job_id is not None:
                created.append((amp_id, job_id))
        return created

    def _repush(self, amp_id: str) -> str | None:
        with self.db.session() as session:
            # The amphora row lock serializes health managers: the second one sees the first one's job.
            amp = session.scalars(select(Amphora).where(Amphora.id == amp_id).with_for_update()).first()
            if amp is None or amp.load_balancer_id is None:
                return None
            in_flight = _config_jobs_in_flight(session, amp.load_balancer_id)
            if any(job.payload.get("amphora_id") == amp_id for job in in_flight):
                return None
            job = add_job(session, "amphora.config", {"amphora_id": amp_id}, amp.load_balancer_id)
            LOG.warning("lb=%s amp=%s runs another configuration than the one pushed: pushing again (job=%s)",
                        amp.load_balancer_id, amp_id, job.id)
            return job.id


def _config_jobs_in_flight(session: Any, lb_id: str) -> list[Job]:
    return list(session.scalars(select(Job).where(
        Job.load_balancer_id == lb_id, Job.kind == "amphora.config",
        Job.state.in_((JobState.PENDING, JobState.RUNNING)))))
