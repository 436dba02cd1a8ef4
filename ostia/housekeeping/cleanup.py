"""Database clean-up, as Octavia's housekeeping does it: a deleted load balancer or amphora keeps its row in
DELETED state (the API never shows it) for `[house_keeping] load_balancer_expiry_age` / `amphora_expiry_age`
seconds, then the row goes for good together with what still refers to it.

Every DELETE repeats the expiry condition, so two housekeeping processes cleaning at once only split the work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.orm import Session

from ostia.db.engine import Database
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
    Tag,
    utcnow,
)
from ostia.db.repositories import tree
from ostia.domain.enums import AmphoraStatus, JobState, ProvisioningStatus

LOG = logging.getLogger("ostia.housekeeping.cleanup")
BATCH = 500  # rows per transaction: a backlog (first run after a long outage) never holds long locks


@dataclasses.dataclass
class Removed:
    amphorae: int = 0
    load_balancers: int = 0
    jobs: int = 0


class DatabaseCleanup:
    def __init__(self, db: Database, amphora_expiry_age: float, load_balancer_expiry_age: float) -> None:
        self.db = db
        self.amphora_expiry_age = amphora_expiry_age
        self.load_balancer_expiry_age = load_balancer_expiry_age

    def run_once(self) -> Removed:
        # Load balancers first: an expired one detaches its amphorae, which the amphora pass then judges alone.
        load_balancers = self.cleanup_load_balancers()
        removed = Removed(amphorae=self.cleanup_amphorae(), load_balancers=load_balancers,
                          jobs=self.cleanup_jobs())
        if removed.amphorae or removed.load_balancers or removed.jobs:
            LOG.info("removed %d expired load balancers, %d expired amphorae and %d finished jobs",
                     removed.load_balancers, removed.amphorae, removed.jobs)
        return removed

    def _delete_in_batches(self, model: Any, conditions: Sequence[ColumnElement[bool]],
                           dependents: Callable[[Session, list[str]], None] | None = None) -> int:
        """Delete the rows of `model` that meet `conditions`, BATCH per transaction, `dependents` first removing
        what points at them; the DELETE repeats the conditions. Returns how many rows went."""
        total = 0
        while True:
            with self.db.session() as session:
                ids = list(session.scalars(select(model.id).where(*conditions).order_by(model.id).limit(BATCH)))
                if not ids:
                    return total
                if dependents is not None:
                    dependents(session, ids)
                total += _rowcount(session.execute(delete(model).where(model.id.in_(ids), *conditions)
                                                   .execution_options(synchronize_session=False)))
            if len(ids) < BATCH:
                return total

    # -- jobs ------------------------------------------------------------------------------------
    def cleanup_jobs(self) -> int:
        """Finished jobs of live load balancers too (a busy LB adds a row per change): kept as long as a deleted
        load balancer's rows, for `ostia diagnose` and post-mortems, then removed."""
        cutoff = utcnow() - dt.timedelta(seconds=self.load_balancer_expiry_age)
        return self._delete_in_batches(Job, [Job.state.in_([JobState.DONE, JobState.REVERTED]),
                                             Job.finished_at < cutoff])

    # -- amphorae --------------------------------------------------------------------------------
    def _expired_amphora(self, cutoff: dt.datetime) -> list[ColumnElement[bool]]:
        # As Octavia: the amphora must also have been silent that long (a DELETED amphora that still
        # sends heartbeats is a leak someone should look at, not a row to forget).
        recent_beat = exists().where(AmphoraHealth.amphora_id == Amphora.id, AmphoraHealth.last_update >= cutoff)
        return [Amphora.status == AmphoraStatus.DELETED,
                func.coalesce(Amphora.updated_at, Amphora.created_at) < cutoff, ~recent_beat]

    def cleanup_amphorae(self) -> int:
        cutoff = utcnow() - dt.timedelta(seconds=self.amphora_expiry_age)
        return self._delete_in_batches(Amphora, self._expired_amphora(cutoff), _remove_amphora_dependents)

    # -- load balancers --------------------------------------------------------------------------
    def cleanup_load_balancers(self) -> int:
        cutoff = utcnow() - dt.timedelta(seconds=self.load_balancer_expiry_age)
        # An amphora not yet DELETED on a deleted load balancer is a leak: keep the LB so it stays traceable.
        live_amphora = exists().where(Amphora.load_balancer_id == LoadBalancer.id,
                                      Amphora.status != AmphoraStatus.DELETED)
        expired = [LoadBalancer.provisioning_status == ProvisioningStatus.DELETED,
                   func.coalesce(LoadBalancer.updated_at, LoadBalancer.created_at) < cutoff, ~live_amphora]
        return self._delete_in_batches(LoadBalancer, expired, _remove_dependents)


def _remove_amphora_dependents(session: Session, amphora_ids: list[str]) -> None:
    session.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id.in_(amphora_ids)))
    # A live listener's counters stay: its totals (stats API, /metrics counters) add up every amphora it ever
    # had, as in Octavia, and must not drop when a failed-over amphora expires.
    live_listener = exists().where(Listener.id == ListenerStatistics.listener_id)
    session.execute(delete(ListenerStatistics).where(ListenerStatistics.amphora_id.in_(amphora_ids), ~live_listener)
                    .execution_options(synchronize_session=False))


def _remove_dependents(session: Session, lb_ids: list[str]) -> None:
    """Whatever still points at these load balancers. The delete flow already removed listeners and pools;
    they are removed again in case an older release or a failed revert left some behind."""
    tree.delete_objects(session, "listener",
                        list(session.scalars(select(Listener.id).where(Listener.load_balancer_id.in_(lb_ids)))))
    tree.delete_objects(session, "pool",
                        list(session.scalars(select(Pool.id).where(Pool.load_balancer_id.in_(lb_ids)))))
    # DELETED amphorae have their own expiry age: they outlive the LB row, detached from it.
    session.execute(update(Amphora).where(Amphora.load_balancer_id.in_(lb_ids)).values(load_balancer_id=None)
                    .execution_options(synchronize_session=False))
    session.execute(delete(AdditionalVip).where(AdditionalVip.load_balancer_id.in_(lb_ids)))
    session.execute(delete(Tag).where(Tag.resource_id.in_(lb_ids)))
    session.execute(delete(FailoverEvent).where(FailoverEvent.load_balancer_id.in_(lb_ids)))
    session.execute(delete(Job).where(Job.load_balancer_id.in_(lb_ids),
                                      Job.state.in_([JobState.DONE, JobState.REVERTED])))


def _rowcount(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]
