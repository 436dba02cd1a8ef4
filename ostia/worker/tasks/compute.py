"""Tasks that start and stop amphorae through the compute driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ostia.db.models import Amphora, LoadBalancer, utcnow
from ostia.domain.enums import AmphoraRole, AmphoraStatus, Topology
from ostia.worker.tasks.base import LOG, OstiaTask

LIVE = (AmphoraStatus.BOOTING, AmphoraStatus.ALLOCATED, AmphoraStatus.READY, AmphoraStatus.PENDING_CREATE)


def live_amphorae(session: Any, lb_id: str) -> list[Amphora]:
    return list(session.scalars(select(Amphora).where(Amphora.load_balancer_id == lb_id,
                                                      Amphora.status.in_(LIVE)).order_by(Amphora.role)))


class CreateAmphorae(OstiaTask):
    """One amphora (SINGLE) or two (ACTIVE_STANDBY); idempotent: a resumed flow reuses those it built."""

    default_provides = "amphora_ids"

    def execute(self, lb_id: str) -> list[str]:
        with self.db.session() as session:
            lb = session.get_one(LoadBalancer, lb_id)
            existing = live_amphorae(session, lb_id)
            roles = ([AmphoraRole.MASTER, AmphoraRole.BACKUP] if lb.topology == Topology.ACTIVE_STANDBY
                     else [AmphoraRole.STANDALONE])
            have = {a.role for a in existing}
            for role in roles:
                if role not in have:
                    session.add(Amphora(load_balancer_id=lb_id, role=role, status=AmphoraStatus.BOOTING,
                                        cached_zone=lb.availability_zone,
                                        vrrp_priority={"MASTER": 100, "BACKUP": 90}.get(role)))
            session.flush()
            amps = [(a.id, a.compute_id) for a in live_amphorae(session, lb_id)]
        for amp_id, compute_id in amps:
            if compute_id is None:
                compute_id = self.drivers.compute.build(amp_id, lb_id)
                with self.db.session() as session:
                    session.execute(update(Amphora).where(Amphora.id == amp_id)
                                    .values(compute_id=compute_id, updated_at=utcnow()))
            self.drivers.amphora.wait_ready(amp_id)
            with self.db.session() as session:
                session.execute(update(Amphora).where(Amphora.id == amp_id)
                                .values(status=AmphoraStatus.ALLOCATED, updated_at=utcnow()))
        return [a for a, _ in amps]

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        with self.db.session() as session:
            amps = [(a.id, a.compute_id) for a in live_amphorae(session, lb_id)]
        for amp_id, compute_id in amps:
            try:
                if compute_id:
                    self.drivers.compute.delete(compute_id)
            except Exception:  # revert never raises: log and go on
                LOG.exception("lb=%s amp=%s could not delete compute instance", lb_id, amp_id)
            with self.db.session() as session:
                session.execute(update(Amphora).where(Amphora.id == amp_id)
                                .values(status=AmphoraStatus.ERROR, updated_at=utcnow()))


class DeleteAmphorae(OstiaTask):
    """Stop and remove every amphora of the load balancer (delete, or the old ones on failover)."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            amps = [(a.id, a.compute_id) for a in session.scalars(
                select(Amphora).where(Amphora.load_balancer_id == lb_id,
                                      Amphora.status.notin_([AmphoraStatus.DELETED])))]
        for amp_id, compute_id in amps:
            if compute_id:
                self.drivers.compute.delete(compute_id)
            with self.db.session() as session:
                session.execute(update(Amphora).where(Amphora.id == amp_id)
                                .values(status=AmphoraStatus.DELETED, updated_at=utcnow()))
