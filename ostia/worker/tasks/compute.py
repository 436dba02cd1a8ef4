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


def _set_amphora(db: Any, amphora_id: str, **values: Any) -> None:
    with db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amphora_id).values(updated_at=utcnow(), **values))


def _set_amphora_unless_deleted(db: Any, amphora_id: str, status: AmphoraStatus) -> None:
    with db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amphora_id, Amphora.status != AmphoraStatus.DELETED)
                        .values(status=status, updated_at=utcnow()))


def start_amphora(db: Any, drivers: Any, amphora_id: str, lb_id: str | None, compute_id: str | None) -> None:
    """Build the amphora unless a resumed flow already did, wait for its agent, record where it answers."""
    if compute_id is None:
        instance = drivers.compute.build(amphora_id, lb_id)
        _set_amphora(db, amphora_id, compute_id=instance.compute_id, lb_network_ip=instance.lb_network_ip,
                     cert_expiration=instance.cert_expiration)
    drivers.amphora.wait_ready(amphora_id)


def destroy_amphora(db: Any, drivers: Any, amphora_id: str, compute_id: str | None) -> None:
    """Stop the amphora and free its ports; both steps are no-ops for one already gone."""
    if compute_id:
        drivers.compute.delete(compute_id)
    drivers.network.release_amphora(amphora_id)
    drivers.amphora.forget(amphora_id)


def claim_spare(db: Any, lb_id: str) -> str | None:
    """Give a READY spare to the load balancer (as its STANDALONE amphora); None when there is none."""
    with db.session() as session:
        candidates = list(session.scalars(
            select(Amphora.id).where(Amphora.load_balancer_id.is_(None), Amphora.status == AmphoraStatus.READY)
            .order_by(Amphora.created_at).limit(5)))
    for amp_id in candidates:
        with db.session() as session:
            taken = session.execute(
                update(Amphora).where(Amphora.id == amp_id, Amphora.status == AmphoraStatus.READY,
                                      Amphora.load_balancer_id.is_(None))
                .values(load_balancer_id=lb_id, role=AmphoraRole.STANDALONE, status=AmphoraStatus.BOOTING,
                        updated_at=utcnow())).rowcount
        if taken == 1:
            LOG.info("lb=%s amp=%s spare claimed", lb_id, amp_id)
            return amp_id
    return None


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
            zone = lb.availability_zone
        if roles == [AmphoraRole.STANDALONE] and not have and claim_spare(self.db, lb_id):
            have = {AmphoraRole.STANDALONE}  # a booted spare: no agent start to wait for
        with self.db.session() as session:
            for role in roles:
                if role not in have:
                    session.add(Amphora(load_balancer_id=lb_id, role=role, status=AmphoraStatus.BOOTING,
                                        cached_zone=zone,
                                        vrrp_priority={"MASTER": 100, "BACKUP": 90}.get(role)))
            session.flush()
            amps = [(a.id, a.compute_id) for a in live_amphorae(session, lb_id)]
        for amp_id, compute_id in amps:
            start_amphora(self.db, self.drivers, amp_id, lb_id, compute_id)
            _set_amphora(self.db, amp_id, status=AmphoraStatus.ALLOCATED)
        return [a for a, _ in amps]

    def revert(self, lb_id: str, *args: Any, **kwargs: Any) -> None:
        with self.db.session() as session:
            amps = [(a.id, a.compute_id) for a in live_amphorae(session, lb_id)]
        for amp_id, compute_id in amps:
            try:
                destroy_amphora(self.db, self.drivers, amp_id, compute_id)
            except Exception:  # revert never raises: log and go on
                LOG.exception("lb=%s amp=%s could not delete compute instance", lb_id, amp_id)
            _set_amphora(self.db, amp_id, status=AmphoraStatus.ERROR)


class DeleteAmphorae(OstiaTask):
    """Stop and remove every amphora of the load balancer (delete, or the old ones on failover)."""

    def execute(self, lb_id: str) -> None:
        with self.db.session() as session:
            amps = [(a.id, a.compute_id) for a in session.scalars(
                select(Amphora).where(Amphora.load_balancer_id == lb_id,
                                      Amphora.status.notin_([AmphoraStatus.DELETED])))]
        for amp_id, compute_id in amps:
            destroy_amphora(self.db, self.drivers, amp_id, compute_id)
            _set_amphora(self.db, amp_id, status=AmphoraStatus.DELETED)


# ---------------------------------------------------------------------------------------------------
# One amphora at a time: the amphora API's delete, failover and configuration jobs
# (flows in ostia/worker/flows/amphora.py). Every task is safe to run again when a job is resumed.
# ---------------------------------------------------------------------------------------------------


class DeleteAmphora(OstiaTask):
    """Stop one amphora's compute instance and mark it DELETED; on revert it is left ERROR."""

    def execute(self, amphora_id: str) -> None:
        with self.db.session() as session:
            compute_id = session.scalar(select(Amphora.compute_id).where(Amphora.id == amphora_id))
        destroy_amphora(self.db, self.drivers, amphora_id, compute_id)
        _set_amphora(self.db, amphora_id, status=AmphoraStatus.DELETED)

    def revert(self, amphora_id: str, *args: Any, **kwargs: Any) -> None:
        _set_amphora_unless_deleted(self.db, amphora_id, AmphoraStatus.ERROR)


class AmphoraToErrorOnRevert(OstiaTask):
    """Revert guard of the failover flow: a failed amphora whose replacement never came is left ERROR (the
    health manager never picks ERROR amphorae again; an operator fails the load balancer over)."""

    def execute(self, amphora_id: str) -> None:
        pass

    def revert(self, amphora_id: str, *args: Any, **kwargs: Any) -> None:
        _set_amphora_unless_deleted(self.db, amphora_id, AmphoraStatus.ERROR)


class CreateReplacementAmphora(OstiaTask):
    """Build (or claim from the spare pool) the amphora that takes a failed-over one's place: same load
    balancer, role and placement. It runs before the failed one is deleted, so a failing build leaves the old
    amphora as it was.

    A resumed job finds the replacement it already started (a live amphora of the LB with that role).
    Spares (no load balancer) are replaced by a new READY spare.
    """

    default_provides = "new_amphora_id"

    def _find_or_add(self, lb_id: str, amphora_id: str) -> tuple[str, str | None]:
        with self.db.session() as session:
            old = session.get_one(Amphora, amphora_id)
            role = old.role
            if lb_id:
                for amp in live_amphorae(session, lb_id):
                    if amp.id != old.id and amp.role == old.role:
                        return amp.id, amp.compute_id
        # A booted spare makes the replacement instant; spares are built for SINGLE, hence STANDALONE only.
        if lb_id and role == AmphoraRole.STANDALONE and (spare := claim_spare(self.db, lb_id)) is not None:
            with self.db.session() as session:
                return spare, session.scalar(select(Amphora.compute_id).where(Amphora.id == spare))
        with self.db.session() as session:
            old = session.get_one(Amphora, amphora_id)
            new = Amphora(load_balancer_id=old.load_balancer_id, role=old.role, status=AmphoraStatus.BOOTING,
                          cached_zone=old.cached_zone, vrrp_priority=old.vrrp_priority,
                          vrrp_interface=old.vrrp_interface, vrrp_id=old.vrrp_id,
                          compute_flavor=old.compute_flavor, image_id=old.image_id)
            session.add(new)
            session.flush()
            return new.id, None

    def execute(self, lb_id: str, amphora_id: str) -> str:
        new_id, compute_id = self._find_or_add(lb_id, amphora_id)
        start_amphora(self.db, self.drivers, new_id, lb_id or None, compute_id)
        _set_amphora(self.db, new_id, status=AmphoraStatus.ALLOCATED if lb_id else AmphoraStatus.READY)
        LOG.info("lb=%s amp=%s replaced by amp=%s", lb_id or "-", amphora_id, new_id)
        return new_id

    def revert(self, lb_id: str, amphora_id: str, *args: Any, **kwargs: Any) -> None:
        result = kwargs.get("result")
        new_ids = [result] if isinstance(result, str) else []
        if not new_ids and lb_id:
            with self.db.session() as session:
                old_role = session.scalar(select(Amphora.role).where(Amphora.id == amphora_id))
                new_ids = [a.id for a in live_amphorae(session, lb_id) if a.role == old_role and a.id != amphora_id]
        for new_id in new_ids:
            with self.db.session() as session:
                compute_id = session.scalar(select(Amphora.compute_id).where(Amphora.id == new_id))
            try:
                destroy_amphora(self.db, self.drivers, new_id, compute_id)
            except Exception:  # revert never raises: log and go on
                LOG.exception("lb=%s amp=%s could not delete compute instance", lb_id, new_id)
            _set_amphora(self.db, new_id, status=AmphoraStatus.ERROR)


class PushAmphoraConfig(OstiaTask):
    """The amphora config API: apply the load balancer's configuration on that one amphora again."""

    def execute(self, lb_id: str, amphora_id: str) -> None:
        if lb_id:  # a spare serves nothing yet: there is no configuration to push
            self.drivers.amphora.update(lb_id, [amphora_id])
