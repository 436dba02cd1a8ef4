"""Amphora admin actions (§2.9): delete, configuration push and failover of one amphora, as jobs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.api.actions import common
from ostia.api.context import RequestContext
from ostia.api.services import ApiServices
from ostia.db.models import Amphora, ListenerStatistics, LoadBalancer, utcnow
from ostia.domain import errors
from ostia.domain.enums import AmphoraStatus, ProvisioningStatus

# Spares (READY) and broken amphorae (ERROR) may be deleted; anything serving traffic may not.
DELETABLE = (AmphoraStatus.ERROR, AmphoraStatus.READY)


def get_visible(session: Session, amphora_id: str, lock: bool = False) -> Amphora:
    """An amphora that is not DELETED (deleted ones are gone as far as the API is concerned)."""
    stmt = select(Amphora).where(Amphora.id == amphora_id, Amphora.status != AmphoraStatus.DELETED)
    if lock:
        stmt = stmt.with_for_update()
    amp = session.scalars(stmt).first()
    if amp is None:
        raise errors.NotFound("Amphora", amphora_id)
    return amp


def _owner(session: Session, amp: Amphora) -> str | None:
    if amp.load_balancer_id is None:
        return None
    return session.scalar(select(LoadBalancer.project_id).where(LoadBalancer.id == amp.load_balancer_id))


def stats(svc: ApiServices, ctx: RequestContext, amphora_id: str) -> list[tuple[Amphora, ListenerStatistics]]:
    svc.policy.authorize(ctx, "amphora:get_stats", ctx.project_id)
    with svc.db.session() as session:
        rows = list(session.execute(
            select(Amphora, ListenerStatistics)
            .join(ListenerStatistics, ListenerStatistics.amphora_id == Amphora.id)
            .where(Amphora.id == amphora_id).order_by(ListenerStatistics.listener_id)).tuples())
    if not rows:
        raise errors.NotFound("Amphora stats for", amphora_id)
    return rows


def delete(svc: ApiServices, ctx: RequestContext, amphora_id: str) -> None:
    svc.policy.authorize(ctx, "amphora:delete", ctx.project_id)
    with svc.db.session() as session:
        amp = get_visible(session, amphora_id, lock=True)
        if amp.status not in DELETABLE:
            raise errors.ImmutableObject("amphora", amp.id)  # Octavia's spelling of the resource here
        amp.status = AmphoraStatus.PENDING_DELETE
        amp.updated_at = utcnow()
        job_id = common.create_job(session, "amphora.delete", amp.load_balancer_id, amphora_id=amp.id)
    svc.dispatcher.dispatch(job_id)


def configure(svc: ApiServices, ctx: RequestContext, amphora_id: str) -> None:
    with svc.db.session() as session:
        amp = get_visible(session, amphora_id)
        svc.policy.authorize(ctx, "amphora:put_config", _owner(session, amp) or ctx.project_id)
        job_id = common.create_job(session, "amphora.config", amp.load_balancer_id, amphora_id=amp.id)
    svc.dispatcher.dispatch(job_id)


def failover(svc: ApiServices, ctx: RequestContext, amphora_id: str) -> None:
    """Replace one amphora. Its load balancer must be ACTIVE and goes PENDING_UPDATE until the job ends."""
    with svc.db.session() as session:
        amp = get_visible(session, amphora_id)
        svc.policy.authorize(ctx, "amphora:put_failover", _owner(session, amp) or ctx.project_id)
        if amp.load_balancer_id is not None:
            lb = common.lock_load_balancer(session, amp.load_balancer_id)
            common.mark([lb], ProvisioningStatus.PENDING_UPDATE)
        job_id = common.create_job(session, "amphora.failover", amp.load_balancer_id, amphora_id=amp.id)
    svc.dispatcher.dispatch(job_id)
